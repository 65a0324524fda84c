"""Turning a MIP solution into a certified lower bound on the Lipschitz constant.

The solver's point x* usually sits on region boundaries, where "z > 0 means active" gives a
different gradient than the MIP's binaries.  What certifies the value is the *activation pattern*
of the binaries: lipc finds the point deepest inside that pattern's region (a Chebyshev-centre
LP: the largest ball inside both the region and the domain) and certifies it
(:func:`certify_point`): strict membership in the open region and the domain checked with
margins that cover rounding, the Jacobian of the pattern from the weights with rigorous
rounding-error radii, the forward value checked against the original model's reference
evaluator.  The lower end of the dual norm of that interval gradient is a true lower bound in
floating point.  Finite differences are not used: on thin regions rounding dominates them (a
"lower bound" of 2.00013 for a constant of exactly 2).  When the centre cannot be certified
(a region too thin), the solver's own point and the domain's centre are tried.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..bounds.interval import gamma
from ..question.chebyshev import deepest_point
from ..compiler.pipeline import Problem
from ..core.ir import Affine, Conditional, Const, Input, Switch
from ..core.sparse import absolute
from ..lowering import Lowered

_EPS = np.finfo(np.float64).eps
_TINY = np.finfo(np.float64).tiny

@dataclass
class Witness:
    x_solver: list[float]                 # input part of the solver's solution
    x: list[float] | None                 # interior point of the maximising pattern's region
    radius: float                         # l2 radius of a ball around x inside region and domain
    pattern: dict[str, list[int]] = field(default_factory=dict)   # forward node -> 0/1 per entry
    c: list[float] | None = None          # the seed c in C attaining the value
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


# ---------------------------------------------------------------------- certified lower bound

def _abs_apply(t, X: np.ndarray) -> np.ndarray:
    """|W| @ X for a term's weight (X >= 0): the magnitude that bounds the rounding of W @ X."""
    W = absolute(t.weight)
    return W * X if t.is_diag and X.ndim == 1 else (W[:, None] * X if t.is_diag else W @ X)


def _n_terms(t) -> int:
    return 1 if t.is_diag else t.in_size()


@dataclass
class _Form:
    """An affine function M x + m of the input with a rigorous bound R, r on the rounding error
    of the float M, m (|true - float| <= R, r entrywise)."""

    M: np.ndarray
    m: np.ndarray
    R: np.ndarray
    r: np.ndarray

    def at(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(value, error radius) of the true affine function at x (float x is exact input)."""
        v = self.M @ x + self.m
        mag = np.abs(self.M) @ np.abs(x) + np.abs(self.m)
        err = self.R @ np.abs(x) + self.r + gamma(x.size + 1) * mag
        return v, _up(err)


def _up(e: np.ndarray) -> np.ndarray:
    """An error radius rounded outwards: covers the rounding of its own computation and
    underflow (why the absolute tiny term is there)."""
    return e * (1 + 8 * _EPS) + _TINY


def _affine_form(op: Affine, forms: dict[str, _Form], d: int) -> _Form:
    M, m = np.zeros((op.size, d)), op.bias.astype(np.float64).copy()
    R, r = np.zeros((op.size, d)), np.zeros(op.size)
    magM, magm = np.zeros((op.size, d)), np.abs(op.bias).astype(np.float64)
    n = 1
    for t in op.terms:
        f = forms[t.src]
        M += t.apply(f.M)
        m += t.apply(f.m)
        R += _abs_apply(t, f.R)
        r += _abs_apply(t, f.r)
        magM += _abs_apply(t, np.abs(f.M) + f.R)
        magm += _abs_apply(t, np.abs(f.m) + f.r)
        n += _n_terms(t)
    g = gamma(2 * n)
    return _Form(M, m, _up(R + g * magM), _up(r + g * magm))


def certify_point(p: Problem, x: np.ndarray) -> Witness | None:
    """The certified lower bound at one input point x, or None when x cannot be certified.

    Certified means: x lies strictly inside the domain and strictly inside the region of the
    activation pattern it determines (every open pre-activation's sign holds with a margin
    larger than its rigorous rounding-error radius), so the network is affine on a
    neighbourhood of x with Jacobian J; J is computed from the IR's weights with rigorous
    error radii (Higham's gamma_n), the IR's forward value at x must agree with the original
    model's reference evaluator (a differential check of the importer), and the reported value
    is the lower end of the dual norm over the interval gradient J^T c for the best vertex c
    of the output set.  This is the one entry point for primal heuristics (branch and bound).
    """
    x = np.asarray(x, dtype=np.float64)
    dom = p.domain
    if not (np.all(np.isfinite(x)) and np.all(x > dom.lo) and np.all(x < dom.hi)):
        return None
    if dom.n_rows:
        scale = float(np.max(np.abs(dom.A) @ np.abs(x), initial=0.0))
        if not dom.contains(x, tol=-(gamma(x.size) * scale + _TINY)):
            return None
    d = x.size
    forms: dict[str, _Form] = {}
    pattern: dict[str, list[int]] = {}
    ties: dict[str, tuple] = {}                  # conditional -> (src, entries where z ~ const)
    for name in p.graph.topo():
        if p.graph.stage(name) != "forward":
            continue
        op = p.graph.op(name)
        if isinstance(op, Input):
            forms[name] = _Form(np.eye(d), np.zeros(d), np.zeros((d, d)), np.zeros(d))
        elif isinstance(op, Const):
            v = np.asarray(op.value, dtype=np.float64)
            forms[name] = _Form(np.zeros((v.size, d)), v, np.zeros((v.size, d)),
                                np.zeros(v.size))
        elif isinstance(op, Affine):
            forms[name] = _affine_form(op, forms, d)
        elif isinstance(op, Conditional):
            bd = p.graph.bounds[name]
            z, err = forms[op.src].at(x)
            open_ = bd.lo != bd.hi
            a = np.where(open_, z > 0, bd.lo > 0.5).astype(int)
            tie = open_ & (np.abs(z) <= err)
            f = forms[op.src]
            if np.any(tie & np.any(f.M != 0, axis=1)):
                return None                      # x is (numerically) on a region boundary
            if np.any(tie):
                # z is constant in x up to its error radius (e.g. the difference of two equal
                # max-pool taps): its own switch is bounded for either gate (see Switch)
                ties[name] = (op.src, tie)
            pattern[name] = a.tolist()
            forms[name] = _Form(np.zeros((op.size, d)), a.astype(float),
                                np.zeros((op.size, d)), np.zeros(op.size))
        elif isinstance(op, Switch):
            f, a = forms[op.src], forms[op.gate].m
            g = _Form(a[:, None] * f.M, a * f.m, a[:, None] * f.R, a * f.r)
            if op.gate in ties:
                src, tie = ties[op.gate]
                if src != op.src:
                    return None                  # an undetermined gate switching another value
                # either gate value: 0 or the (nearly constant) z, within z's radius
                g.M[tie], g.m[tie] = 0.0, 0.0
                g.R[tie], g.r[tie] = f.R[tie] + np.abs(f.M[tie]), f.r[tie] + np.abs(f.m[tie])
            forms[name] = g
    out = forms[p.network.output]
    y, y_err = out.at(x)
    ref = np.asarray(p.network.reference(x[None, :])[0], dtype=np.float64)
    if not np.all(np.abs(ref - y) <= y_err + 1e-9 * np.maximum(np.abs(ref), np.abs(y))
                  + 1e-12 * float(np.max(np.abs(y), initial=0.0))):
        return None                              # the IR does not reproduce the model here
    vertices = p.query.output.vertices()
    if vertices is None:
        return None
    norm = p.query.input_norm
    best = None
    for c in vertices:
        c = np.asarray(c, dtype=np.float64)
        g = out.M.T @ c
        e = _up(out.R.T @ np.abs(c) + gamma(c.size) * (np.abs(out.M).T @ np.abs(c)))
        lo = (norm.dual(g) - norm.dual_error(e, g)) * (1 - gamma(2 * d + 2))
        lo = max(0.0, lo)
        if best is None or lo > best[0]:
            best = (lo, c, g)
    value, c, g = best
    return Witness(x.tolist(), x.tolist(), 0.0, pattern, c.tolist(), g.tolist(), float(value))


def _candidates(p: Problem, low: Lowered, x_sol: np.ndarray, x_in: np.ndarray):
    """Points to certify, best first: the deepest point of the solver's pattern region, the
    solver's point itself, the domain's centre."""
    pattern = _forward_pattern(p, low, x_sol)
    G, h = _region(p, pattern)
    center, radius = deepest_point(G, h, p.domain)
    pts = [] if center is None or not radius > 0 else [center]
    return pattern, float(radius), pts + [x_in, p.domain.center]


def verify(p: Problem, low: Lowered, x_sol: np.ndarray) -> Witness:
    """The witness of a solution: the best certified lower bound among the candidate points
    (value None when none of them can be certified)."""
    x_in = (low.value_of(p.network.input, x_sol) if p.network.input in low.values
            else p.domain.center)           # the objective may not depend on x at all
    pattern, radius, points = _candidates(p, low, x_sol, x_in)
    best = None
    for x in points:
        w = certify_point(p, x)
        if w is not None and (best is None or w.value > best.value):
            best = w
    if best is None:
        return Witness(x_in.tolist(), None, radius, {k: v.tolist() for k, v in pattern.items()})
    best.x_solver, best.radius = x_in.tolist(), radius
    return best
