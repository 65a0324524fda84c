"""The deepest point of a polyhedral region: the centre of the largest Euclidean ball inside it.

Used twice: a domain must have a non-empty interior (radius > 0), and a witness's activation
region must contain a ball around the point where the gradient is re-evaluated, so that finite
differences stay on one affine piece.  Rows of a lifted set (auxiliary variables) get the margin
t * ||row restricted to x||_2, which is sufficient (conservative) for the projection.
"""
from __future__ import annotations

import numpy as np

from .linear_set import LinearSet


def deepest_point(G: np.ndarray, h: np.ndarray, dom: LinearSet):
    """The centre x of the largest ball inside {G x <= h} and the domain, and the radius of a
    Euclidean ball around x inside both; (None, -inf) when the LP has no solution.

    The ball is taken in the box's own coordinates x = lo + D u, D = diag(hi - lo): in x a box
    1e-12 thin along one coordinate caps every Euclidean ball at 5e-13, far below the LP's
    tolerance, so the "centre" could leave the region (a witness on a 1e-12-thin domain was
    never certified); in u every coordinate is 1 wide.  A ball of radius t in u contains the
    x-ball of radius t * min(D), which is returned.  HiGHS (scipy's linprog) on dense rows: the
    witness of every flip the primal walk tries goes through here, on 784-input nets too."""
    from scipy.optimize import linprog

    d, k = dom.lo.size, dom.n_aux
    lo, width = np.asarray(dom.lo, np.float64), np.asarray(dom.hi - dom.lo, np.float64)
    G = np.asarray(G, dtype=np.float64).reshape(-1, d)
    h = np.asarray(h, dtype=np.float64) - G @ lo
    G = G * width
    gn = np.linalg.norm(G, axis=1)
    if np.any((gn == 0.0) & (h < 0)):
        return None, -np.inf
    keep = gn > 0.0
    blocks = [(np.hstack([G[keep], np.zeros((int(keep.sum()), k))]), gn[keep], h[keep])]
    if dom.n_rows:
        A = np.hstack([dom.A * width, dom.B if k else np.zeros((dom.n_rows, 0))])
        an = np.linalg.norm(dom.A * width, axis=1)
        shift = dom.A @ lo
        up, dn = np.isfinite(dom.r_hi), np.isfinite(dom.r_lo)
        blocks += [(A[up], an[up], dom.r_hi[up] - shift[up]),
                   (-A[dn], an[dn], -(dom.r_lo[dn] - shift[dn]))]
    box = np.hstack([np.eye(d), np.zeros((d, k))])
    blocks += [(box, np.ones(d), np.ones(d)), (-box, np.ones(d), np.zeros(d))]
    A_ub = np.vstack([np.hstack([M, m[:, None]]) for M, m, _ in blocks])
    b_ub = np.concatenate([np.asarray(b, dtype=np.float64) for _, _, b in blocks])
    bounds = ([(0.0, 1.0)] * d + (list(zip(dom.s_lo, dom.s_hi)) if k else []) + [(-1.0, 1.0)])
    cost = np.zeros(d + k + 1)
    cost[-1] = -1.0
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        return None, -np.inf
    u, t = res.x[:d], float(res.x[-1])
    if t > 0:   # tolerance-accurate: back to at least t from each face, where an exact centre is
        u = np.clip(u, min(t, 0.5), 1.0 - min(t, 0.5))
    return lo + width * u, t * float(np.min(width))
