"""RandomLB: the largest dual gradient norm at random points of the domain (a lower bound).

At each point x, L >= max over the vertices c of C of ||J(x)^T c||_alpha*, because the local
Lipschitz constant is the supremum of that quantity.  J(x)^T c is the gradient node of the
compiled backward pass evaluated on the IR at x (exact within x's activation region); the best
point is re-checked on the original model (network.reference) by central differences.
"""
from __future__ import annotations

import numpy as np

from ..compiler.pipeline import CompileOptions
from ..errors import LipcError
from ..core.interpret import evaluate
from ..verify.chebyshev import deepest_point

GUARANTEE = "lower"


def _is_l1_ball(dom) -> tuple[np.ndarray, float] | None:
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
    ball = _is_l1_ball(dom)
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
        raise LipcError("randomlb: could not sample any point of the domain")
    return np.vstack(keep)


def gradients(problem, X: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """J(x)^T c for every point (rows of X) and seed c (rows of seeds): shape (k, N, d)."""
    g = problem.graph
    seed_node = g.role("seed")
    out = []
    for c in seeds:
        leaves = {problem.network.input: X.T}
        if not hasattr(g.op(seed_node), "value"):          # an Input ranging over C
            leaves[seed_node] = np.repeat(np.asarray(c, float)[:, None], X.shape[0], axis=1)
        vals = evaluate(g, leaves, [problem.gradient])
        out.append(np.asarray(vals[problem.gradient]).T)
    return np.array(out)


def randomlb(ctx) -> tuple[float, dict]:
    rng = np.random.default_rng(ctx.seed)
    p = ctx.problem(CompileOptions(bounds="interval", passes=False))
    seeds = ctx.query.output.vertices()
    if seeds is None:           # too many vertices (a box C in many dimensions): random ones
        seeds = rng.choice([-1.0, 1.0], size=(256, ctx.query.output.m))
    X = sample_domain(ctx.domain, ctx.samples, rng)
    G = gradients(p, X, seeds)                                    # (k, N, d)
    norm = ctx.query.input_norm
    vals = np.array([[norm.dual(G[k, i]) for i in range(G.shape[1])] for k in range(G.shape[0])])
    k, i = np.unravel_index(int(np.argmax(vals)), vals.shape)
    best = float(vals[k, i])
    x, c = X[i], seeds[k]
    # the same quantity on the original model (central differences): report the smaller one,
    # so that a discrepancy between the IR and the model can only lower the bound
    h = 1e-6 * (1 + float(np.max(np.abs(x))))
    E = np.eye(x.size) * h
    F = ctx.network.reference(np.vstack([x + E, x - E]))
    J = ((F[: x.size] - F[x.size:]) / (2 * h)).T
    ref = norm.dual(J.T @ c)
    value = best if abs(ref - best) <= 1e-6 * max(1.0, abs(best)) else min(best, ref)
    return value, {"points": int(X.shape[0]), "x": x.tolist(), "c": np.asarray(c).tolist(),
                   "reference_value": float(ref)}
