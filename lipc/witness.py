"""Turning a MIP solution into a verified lower bound on the Lipschitz constant.

The solver's point x* usually sits on region boundaries, where "z > 0 means active" gives a
different gradient than the MIP's binaries.  What certifies the value is the *activation pattern*
of the binaries: lipc finds the point deepest inside that pattern's region (a Chebyshev-centre
LP: the largest ball inside both the region and the domain), then recomputes the gradient there
on the original network (its reference evaluator, not the IR) by central differences, which are
exact up to rounding on an affine piece.  The dual norm of that gradient is a true gradient norm
at an interior differentiable point, hence a sound lower bound whatever the compiler did.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cbc import captured_stdout
from .compiler import Problem
from .ir import Affine, Conditional, Const, Input, Switch
from .lower import Lowered

DUAL_NORMS = {"linf": lambda g: float(np.sum(np.abs(g))), "l1": lambda g: float(np.max(np.abs(g)))}


@dataclass
class Witness:
    x_solver: list[float]                 # input part of the solver's solution
    x: list[float] | None                 # interior point of the maximising pattern's region
    radius: float                         # l2 radius of a ball around x inside region and domain
    pattern: dict[str, list[int]] = field(default_factory=dict)   # forward node -> 0/1 per entry
    gradient: list[float] | None = None   # grad <c, f> recomputed on the original network
    value: float | None = None            # dual norm of ``gradient``: the verified lower bound


def _forward_pattern(p: Problem, low: Lowered, x: np.ndarray) -> dict[str, np.ndarray]:
    """0/1 value of every forward conditional at the solution (binaries rounded)."""
    pat = {}
    for name in low.values:
        if isinstance(p.graph.op(name), Conditional) and p.graph.stage(name) == "forward":
            pat[name] = (low.value_of(name, x) > 0.5).astype(int)
    return pat


def _region(p: Problem, pattern: dict[str, np.ndarray]):
    """Affine forms of forward nodes under a fixed pattern and the sign rows they impose.

    Returns rows (G, h) meaning G x <= h for the pattern's open entries (stable entries hold on
    the whole domain by soundness of the bounds).
    """
    d = p.network.n_inputs
    forms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    G, h = [np.zeros((0, d))], [np.zeros(0)]
    for name in p.graph.topo():
        if p.graph.stage(name) != "forward":
            continue
        op = p.graph.op(name)
        if isinstance(op, Input):
            forms[name] = (np.eye(d), np.zeros(d))
        elif isinstance(op, Const):
            forms[name] = (np.zeros((op.size, d)), op.value)
        elif isinstance(op, Affine):
            M, m = np.zeros((op.size, d)), op.bias.copy()
            for t in op.terms:
                Mx, mx = forms[t.src]
                M += t.apply(Mx)
                m += t.apply(mx)
            forms[name] = (M, m)
        elif isinstance(op, Conditional):
            a = pattern.get(name)
            if a is None:
                continue
            Mz, mz = forms[op.src]
            bd = p.graph.bounds[name]
            open_ = bd.lo != bd.hi
            sign = np.where(a == 1, -1.0, 1.0)[open_]       # a=1: -z <= 0 ; a=0: z <= 0
            G.append(sign[:, None] * Mz[open_])
            h.append(-sign * mz[open_])
            forms[name] = (np.zeros((op.size, d)), a.astype(float))
        elif isinstance(op, Switch):
            Mx, mx = forms[op.src]
            a = forms[op.gate][1]
            forms[name] = (a[:, None] * Mx, a * mx)
    return np.vstack(G), np.concatenate(h)


def chebyshev_center(G: np.ndarray, h: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """max t s.t. G x + t ||G_i|| <= h, lo + t <= x <= hi - t: the deepest point of the region."""
    import mip

    d = lo.size
    m = mip.Model(sense=mip.MAXIMIZE, solver_name=mip.CBC)
    m.verbose = 0
    xs = [m.add_var(lb=float(lo[i]), ub=float(hi[i])) for i in range(d)]
    t = m.add_var(lb=-1e6, ub=float(np.max(hi - lo)))
    norms = np.linalg.norm(G, axis=1)
    for i in range(G.shape[0]):
        nz = np.flatnonzero(G[i])
        if nz.size == 0:
            if h[i] < 0:
                return None, -np.inf
            continue
        m.add_constr(mip.LinExpr([xs[j] for j in nz] + [t], G[i, nz].tolist() + [norms[i]])
                     <= float(h[i]))
    for i in range(d):
        m.add_constr(xs[i] - t >= float(lo[i]))
        m.add_constr(xs[i] + t <= float(hi[i]))
    m.objective = mip.LinExpr([t], [1.0])
    with captured_stdout(lambda line: None):
        status = m.optimize()
    if status != mip.OptimizationStatus.OPTIMAL:
        return None, -np.inf
    return np.array([v.x for v in xs]), float(t.x)


def reference_gradient(p: Problem, x: np.ndarray, h: float) -> np.ndarray:
    """grad <c, f>(x) on the original network by central differences of step h."""
    d = x.size
    E = np.eye(d) * h
    F = p.network.reference(np.vstack([x + E, x - E]))
    return ((F[:d] - F[d:]) @ p.query.c) / (2 * h)


def verify(p: Problem, low: Lowered, x_sol: np.ndarray) -> Witness:
    """Build the witness of a solution and its verified lower bound."""
    x_in = low.value_of(p.network.input, x_sol)
    pattern = _forward_pattern(p, low, x_sol)
    G, h = _region(p, pattern)
    center, radius = chebyshev_center(G, h, p.domain.lo, p.domain.hi)
    w = Witness(x_in.tolist(), None, float(radius), {k: v.tolist() for k, v in pattern.items()})
    if center is None or not radius > 0:
        return w
    # tighten the point's slack check in exact terms: every sign row must hold at the centre
    if np.any(G @ center > h + 1e-12 * (1 + np.abs(h))):
        return w
    grad = reference_gradient(p, center, min(radius / 2, 1e-3 * (1 + np.max(np.abs(center)))))
    w.x, w.gradient = center.tolist(), grad.tolist()
    w.value = DUAL_NORMS[p.query.input_norm](grad)
    return w
