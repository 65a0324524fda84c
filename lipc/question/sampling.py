"""Points of a domain, for lower bounds by sampling (randomlb, clever, the primal heuristic).

Uniform in boxes and in lipc's l1-ball encoding (recognised from its rows); rejection sampling
in a general polytope, plus its deepest point so that there is always at least one point."""
from __future__ import annotations

import numpy as np

from ..errors import LipcError
from .chebyshev import deepest_point


def l1_ball_of(dom) -> tuple[np.ndarray, float] | None:
    """(center, radius) when the domain's rows are exactly lipc's l1-ball encoding."""
    n = dom.dim
    if dom.A is None or dom.B is None or dom.A.shape != (2 * n + 1, n) or dom.B.shape[1] != n:
        return None
    eye = np.eye(n)
    if not (np.array_equal(dom.A, np.vstack([eye, -eye, np.zeros((1, n))]))
            and np.array_equal(dom.B, np.vstack([-eye, -eye, np.ones((1, n))]))):
        return None
    return dom.r_hi[:n].copy(), float(dom.r_hi[-1])


def sample_domain(dom, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to n points of the domain (rows), always including its centre when it is inside."""
    d = dom.dim
    if not dom.n_rows:
        X = dom.lo + rng.random((n, d)) * (dom.hi - dom.lo)
        return np.vstack([dom.center[None, :], X])
    ball = l1_ball_of(dom)
    if ball is not None:
        c, r = ball
        # uniform in the l1 ball: random signs times a uniform point of the simplex, scaled;
        # clipping to the box moves each coordinate towards c (c is in the box), so stays inside
        e = rng.exponential(size=(n, d + 1))
        S = (e / e.sum(axis=1, keepdims=True))[:, :d]
        X = c + r * S * rng.choice([-1.0, 1.0], size=(n, d))
        return np.clip(np.vstack([c[None, :], X]), dom.lo, dom.hi)
    X = dom.lo + rng.random((n, d)) * (dom.hi - dom.lo)
    if dom.n_aux:                  # a general lifted set: an LP per point, so fewer points
        X = X[: max(1, min(n, 50))]
        keep = [x for x in X if dom.contains(x, tol=0.0)]
    else:
        act = X @ dom.A.T
        ok = np.all((act >= dom.r_lo) & (act <= dom.r_hi), axis=1)
        keep = list(X[ok])
    x0, _ = deepest_point(np.zeros((0, d)), np.zeros(0), dom)
    if x0 is not None:
        keep.append(np.asarray(x0))
    if not keep:
        raise LipcError("could not sample any point of the domain")
    return np.vstack(keep)
