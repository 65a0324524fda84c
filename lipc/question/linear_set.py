"""Polyhedral sets of vectors, possibly lifted with auxiliary variables.

Input domains (polytopes, l1 balls) and output seed sets C (l1 balls, boxes, margin sets) are
all of the form

    { v : lo <= v <= hi,  exists s in [s_lo, s_hi] :  r_lo <= A v + B s <= r_hi },

which a MIP states exactly with a few rows; the auxiliary s keeps an l1 ball at 2n rows instead
of 2^n.  One type serves both sides, so lowering, bound inference (through the box) and the
witness LP treat domains and seed sets alike.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..core.ir import Bounds, Input, IRGraph, LinearConstraint
from ..util.capture import captured_stdout


@dataclass
class LinearSet:
    lo: np.ndarray
    hi: np.ndarray
    A: np.ndarray | None = None        # (k, n) on v
    B: np.ndarray | None = None        # (k, p) on the auxiliary s
    r_lo: np.ndarray | None = None
    r_hi: np.ndarray | None = None
    s_lo: np.ndarray | None = None
    s_hi: np.ndarray | None = None

    def scaled(self, exp: int) -> "LinearSet | None":
        """The set 2**exp * self (aux variables and row bounds scale with it: the rows are
        homogeneous), or None when the scaling is not exact in float64 (underflow/overflow)."""
        out, ok = {}, True
        for key in ("lo", "hi", "r_lo", "r_hi", "s_lo", "s_hi"):
            v = getattr(self, key)
            if v is not None:
                w = np.ldexp(v, exp)
                ok = ok and bool(np.array_equal(np.ldexp(w, -exp), v))
                out[key] = w
        return replace(self, **out) if ok else None

    @property
    def n_rows(self) -> int:
        return 0 if self.A is None else int(self.A.shape[0])

    @property
    def n_aux(self) -> int:
        return 0 if self.B is None else int(self.B.shape[1])

    def attach(self, graph: IRGraph, node: str, label: str) -> None:
        """Add the rows tying ``node`` to this set (and the auxiliary variables) to the graph."""
        if not self.n_rows:
            return
        terms = [(node, self.A)]
        if self.n_aux:
            aux = graph.add(Input(self.n_aux, role="aux"), label=f"{label} auxiliary",
                            stage=graph.stage(node))
            graph.bounds[aux] = Bounds(self.s_lo.copy(), self.s_hi.copy(), "set")
            graph.roles[aux] = f"aux of {node}"
            terms.append((aux, self.B))
        graph.constraints.append(LinearConstraint(terms, self.r_lo.copy(), self.r_hi.copy()))

    def contains(self, v: np.ndarray, tol: float = 1e-9) -> bool:
        """Membership of a point (the auxiliary part by LP when there is one)."""
        if np.any(v < self.lo - tol) or np.any(v > self.hi + tol):
            return False
        if not self.n_rows:
            return True
        if not self.n_aux:
            act = self.A @ v
            return bool(np.all(act >= self.r_lo - tol) and np.all(act <= self.r_hi + tol))
        import mip
        m = mip.Model(solver_name=mip.CBC)
        m.verbose = 0
        s = [m.add_var(lb=float(a), ub=float(b)) for a, b in zip(self.s_lo, self.s_hi)]
        base = self.A @ v
        for i in range(self.n_rows):
            expr = mip.LinExpr(s, self.B[i].tolist())
            if np.isfinite(self.r_lo[i]):
                m.add_constr(expr >= float(self.r_lo[i] - base[i] - tol))
            if np.isfinite(self.r_hi[i]):
                m.add_constr(expr <= float(self.r_hi[i] - base[i] + tol))
        with captured_stdout(lambda line: None):
            return m.optimize() == mip.OptimizationStatus.OPTIMAL


def l1_ball(center: np.ndarray, radius: float, lo: np.ndarray, hi: np.ndarray) -> LinearSet:
    """{v : ||v - center||_1 <= radius} within the box [lo, hi]: s_i >= |v_i - c_i|, sum s <= r."""
    n = center.size
    eye = np.eye(n)
    A = np.vstack([eye, -eye, np.zeros((1, n))])
    B = np.vstack([-eye, -eye, np.ones((1, n))])
    r_lo = np.full(2 * n + 1, -np.inf)
    r_hi = np.concatenate([center, -center, [radius]])
    return LinearSet(lo, hi, A, B, r_lo, r_hi, np.zeros(n), np.full(n, float(radius)))
