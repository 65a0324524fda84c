"""RandomLB: the largest dual gradient norm at random points of the domain (a lower bound).

At each point x, L >= max over the vertices c of C of ||J(x)^T c||_alpha*, because the local
Lipschitz constant is the supremum of that quantity.  J(x)^T c is the gradient node of the
compiled backward pass evaluated on the IR at x (exact within x's activation region); the best
point is re-checked on the original model (network.reference) by central differences.
"""
from __future__ import annotations

import numpy as np

from ..compiler.pipeline import CompileOptions
from ..core.interpret import evaluate
from ..question.sampling import sample_domain

GUARANTEE = "lower"


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
