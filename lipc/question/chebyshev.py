"""The deepest point of a polyhedral region: the centre of the largest Euclidean ball inside it.

Used twice: a domain must have a non-empty interior (radius > 0), and a witness's activation
region must contain a ball around the point where the gradient is re-evaluated, so that finite
differences stay on one affine piece.  Rows of a lifted set (auxiliary variables) get the margin
t * ||row restricted to x||_2, which is sufficient (conservative) for the projection.
"""
from __future__ import annotations

import numpy as np

from .linear_set import LinearSet
from ..util.capture import captured_stdout


def deepest_point(G: np.ndarray, h: np.ndarray, dom: LinearSet):
    """max t s.t. G x + t ||G_i|| <= h, dom's rows and box shrunk by t.  Returns (x, t) or
    (None, -inf) when the LP has no solution."""
    import mip


    d = dom.lo.size
    m = mip.Model(sense=mip.MAXIMIZE, solver_name=mip.CBC)
    m.verbose = 0
    xs = [m.add_var(lb=float(dom.lo[i]), ub=float(dom.hi[i])) for i in range(d)]
    t = m.add_var(lb=-1.0, ub=float(np.max(dom.hi - dom.lo)))
    ss = [m.add_var(lb=float(a), ub=float(b)) for a, b in zip(dom.s_lo, dom.s_hi)] \
        if dom.n_aux else []

    def row(coef: np.ndarray, aux: np.ndarray | None, margin: float):
        nz = np.flatnonzero(coef)
        vs, cs = [xs[j] for j in nz], coef[nz].tolist()
        if aux is not None:
            nza = np.flatnonzero(aux)
            vs, cs = vs + [ss[j] for j in nza], cs + aux[nza].tolist()
        return mip.LinExpr(vs + [t], cs + [margin])

    for i in range(G.shape[0]):
        norm = float(np.linalg.norm(G[i]))
        if norm == 0.0:
            if h[i] < 0:
                return None, -np.inf
            continue
        m.add_constr(row(G[i], None, norm) <= float(h[i]))
    for i in range(dom.n_rows):
        a = dom.A[i]
        aux = dom.B[i] if dom.n_aux else None
        norm = float(np.linalg.norm(a))
        if np.isfinite(dom.r_hi[i]):
            m.add_constr(row(a, aux, norm) <= float(dom.r_hi[i]))
        if np.isfinite(dom.r_lo[i]):
            m.add_constr(row(-a, None if aux is None else -aux, norm) <= float(-dom.r_lo[i]))
    for i in range(d):
        m.add_constr(xs[i] - t >= float(dom.lo[i]))
        m.add_constr(xs[i] + t <= float(dom.hi[i]))
    m.objective = mip.LinExpr([t], [1.0])
    with captured_stdout(lambda line: None):
        status = m.optimize()
    if status != mip.OptimizationStatus.OPTIMAL:
        return None, -np.inf
    return np.array([v.x for v in xs]), float(t.x)
