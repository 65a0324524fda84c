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
    """max t s.t. G x + t ||G_i|| <= h, dom's rows and box shrunk by t.  Returns (x, t) or
    (None, -inf) when the LP has no solution.  HiGHS (scipy's linprog) on dense rows: the
    witness of every flip the primal walk tries goes through here, on 784-input nets too."""
    from scipy.optimize import linprog

    d, k = dom.lo.size, dom.n_aux
    G = np.asarray(G, dtype=np.float64).reshape(-1, d)
    gn = np.linalg.norm(G, axis=1)
    if np.any((gn == 0.0) & (np.asarray(h) < 0)):
        return None, -np.inf
    keep = gn > 0.0
    blocks = [(np.hstack([G[keep], np.zeros((int(keep.sum()), k))]), gn[keep], h[keep])]
    if dom.n_rows:
        A = np.hstack([dom.A, dom.B if k else np.zeros((dom.n_rows, 0))])
        an = np.linalg.norm(dom.A, axis=1)
        up, dn = np.isfinite(dom.r_hi), np.isfinite(dom.r_lo)
        blocks += [(A[up], an[up], dom.r_hi[up]), (-A[dn], an[dn], -dom.r_lo[dn])]
    box = np.hstack([np.eye(d), np.zeros((d, k))])
    blocks += [(box, np.ones(d), dom.hi), (-box, np.ones(d), -dom.lo)]
    A_ub = np.vstack([np.hstack([M, m[:, None]]) for M, m, _ in blocks])
    b_ub = np.concatenate([np.asarray(b, dtype=np.float64) for _, _, b in blocks])
    bounds = (list(zip(dom.lo, dom.hi)) + (list(zip(dom.s_lo, dom.s_hi)) if k else [])
              + [(-1.0, float(np.max(dom.hi - dom.lo)))])
    cost = np.zeros(d + k + 1)
    cost[-1] = -1.0
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        return None, -np.inf
    return res.x[:d], float(res.x[-1])
