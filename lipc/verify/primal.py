"""The primal side: verified lower bounds found fast, before and during any solve.

The gradient norm ||J(x)^T c||_* is piecewise constant over activation regions, so the lower
bound improves only by reaching a region with a larger norm.  Three cheap steps do most of it:

1. sample the domain (seeded) and evaluate the gradient of the compiled backward pass at every
   point in one batch (exact inside a region);
2. climb from the best points: propose neighbours at a shrinking radius and move to any with a
   larger norm (a move to a neighbouring region; a step that finds none halves the radius);
3. certify the best few points: the activation pattern at the point is written as a MIP column
   vector (:func:`start_columns`, the inverse of how the witness reads a solution) and handed to
   :func:`certify`, the one call site of the witness machinery (a Chebyshev point of the pattern's
   region, the gradient recomputed on the original network).  The same columns are the MIP start.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..compiler.pipeline import Problem
from ..core.interpret import evaluate
from ..core.ir import Conditional, Input
from ..lowering import Lowered
from ..question.sampling import l1_ball_of, sample_domain
from .witness import Witness, verify

MAX_RANDOM_SEEDS = 64          # a box C too large to enumerate: this many random sign vectors


@dataclass
class Primal:
    """The best verified point found: ``value`` is a certified lower bound (or None)."""

    value: float | None
    witness: Witness | None
    start: np.ndarray | None               # MIP column values at the point (NaN: unknown)
    candidate: float | None = None          # best IR value before certification
    points: int = 0
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)


def seeds_of(p: Problem, rng: np.random.Generator) -> np.ndarray:
    """Candidate seeds c (rows): the vertices of C, which contain every pattern's maximiser."""
    v = p.query.output.vertices()
    if v is not None:
        return np.asarray(v, dtype=np.float64)
    return rng.choice([-1.0, 1.0], size=(MAX_RANDOM_SEEDS, p.query.output.m))


def _leaves(p: Problem, X: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
    leaves = {p.network.input: X.T}
    seed = p.graph.role("seed")
    if isinstance(p.graph.op(seed), Input):          # C is a set: the seed is a variable
        leaves[seed] = np.repeat(np.asarray(c, float)[:, None], X.shape[0], axis=1)
    return leaves


def norms_at(p: Problem, X: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(best dual gradient norm, index of its seed) at every row of X, from the compiled IR."""
    dual = p.query.input_norm.dual
    best = np.full(X.shape[0], -np.inf)
    which = np.zeros(X.shape[0], dtype=int)
    for k, c in enumerate(seeds):
        G = evaluate(p.graph, _leaves(p, X, c), [p.gradient])[p.gradient].T
        vals = np.array([dual(g) for g in G])
        better = vals > best
        best[better], which[better] = vals[better], k
    return best, which


def inside(dom, X: np.ndarray) -> np.ndarray:
    """Which rows of X lie in the domain (exactly for boxes, explicit rows and l1 balls; a
    general lifted set admits no new point, so the climb stays on sampled points)."""
    ok = np.all((X >= dom.lo) & (X <= dom.hi), axis=1)
    if not dom.n_rows:
        return ok
    if not dom.n_aux:
        act = X @ dom.A.T
        return ok & np.all((act >= dom.r_lo) & (act <= dom.r_hi), axis=1)
    ball = l1_ball_of(dom)
    if ball is None:
        return np.zeros(X.shape[0], bool)
    c, r = ball
    return ok & (np.abs(X - c).sum(axis=1) <= r)


def climb(p: Problem, X: np.ndarray, vals: np.ndarray, seeds: np.ndarray,
          rng: np.random.Generator, rounds: int = 40, neighbours: int = 24,
          deadline: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Move each start point to neighbouring regions while the norm grows (ties move too, which
    lets a point cross flat stretches); the radius halves after a round without progress."""
    dom = p.domain
    width = dom.hi - dom.lo
    X, vals = X.copy(), vals.copy()
    radius = np.full(X.shape[0], 0.25)
    for _ in range(rounds):
        if deadline is not None and time.perf_counter() > deadline:
            break
        k, d = X.shape
        step = rng.uniform(-1.0, 1.0, (k, neighbours, d)) * (radius[:, None, None] * width)
        Y = np.clip(X[:, None, :] + step, dom.lo, dom.hi).reshape(-1, d)
        ok = inside(dom, Y)
        if not ok.any():
            radius /= 2
            continue
        yv = np.full(Y.shape[0], -np.inf)
        yv[ok] = norms_at(p, Y[ok], seeds)[0]
        yv = yv.reshape(k, neighbours)
        j = np.argmax(yv, axis=1)
        top = yv[np.arange(k), j]
        up = top > vals
        X[up], vals[up] = Y.reshape(k, neighbours, d)[up, j[up]], top[up]
        radius[~up] /= 2
        if np.all(radius < 1e-6):
            break
    return X, vals


def start_columns(p: Problem, low: Lowered, x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The compiled MIP's column vector at input x with seed c (the forward and backward pass
    and the norm evaluated on the IR); columns of auxiliary set variables are NaN (unknown: a
    partial start the solver completes)."""
    targets = [n for n in low.values
               if not (isinstance(p.graph.op(n), Input) and n != p.network.input
                       and n != p.graph.role("seed"))]
    vals = evaluate(p.graph, _leaves(p, x[None, :], c), targets)
    cols = np.full(low.mip.n_cols, np.nan)
    for name in targets:
        v = low.values[name]
        var = v.var
        cols[v.cols[var]] = np.asarray(vals[name])[:, 0][var]
    return cols


def verify_columns(p: Problem, low: Lowered, cols: np.ndarray) -> Witness:
    """The verified lower bound of a MIP column vector: the one call site of the witness
    machinery in lipc.bab (to be replaced by a rigorous ``certify_point``)."""
    return verify(p, low, np.nan_to_num(cols))


def certify(p: Problem, low: Lowered, x: np.ndarray, c: np.ndarray) -> tuple[Witness, np.ndarray]:
    """A verified lower bound at x, and the MIP start columns of x's pattern."""
    cols = start_columns(p, low, x, c)
    return verify_columns(p, low, cols), cols


def pattern_columns(p: Problem, low: Lowered, x: np.ndarray, pattern: dict[str, np.ndarray],
                    seed: np.ndarray | None) -> np.ndarray:
    """Columns of the root MIP for input x with the activation ``pattern`` (forward
    conditional -> 0/1 entries; conditionals it lacks take their value at x) and seed c: what
    the witness reads (input, forward binaries, seed), everything else NaN."""
    cols = np.full(low.mip.n_cols, np.nan)
    gates = [n for n in low.values
             if isinstance(p.graph.op(n), Conditional) and p.graph.stage(n) == "forward"]
    # no unstable neuron, no gate to evaluate (evaluate reads no targets as "every node", and
    # the leaves here lack the seed set's auxiliary inputs)
    at_x = evaluate(p.graph, _leaves(p, x[None, :], seeds_of(p, np.random.default_rng(0))[0]),
                    gates) if gates else {}
    for name, v in low.values.items():
        op = p.graph.op(name)
        if name == p.network.input:
            vals = x
        elif isinstance(op, Conditional) and p.graph.stage(name) == "forward":
            vals = pattern.get(name, at_x[name][:, 0])
        elif name == p.graph.role("seed") and seed is not None:
            vals = seed
        else:
            continue
        cols[v.cols[v.var]] = np.asarray(vals, float)[v.var]
    return cols


def search(p: Problem, low: Lowered, seconds: float = 0.5, samples: int = 2000, seed: int = 0,
           starts: int = 8, certified: int = 3) -> Primal:
    """Sample, climb and certify within about ``seconds``; deterministic for a given seed
    (the time budget can only cut the climb short)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    seeds = seeds_of(p, rng)
    X = sample_domain(p.domain, samples, rng)
    vals, _ = norms_at(p, X, seeds)
    order = np.argsort(-vals, kind="stable")[:starts]
    Xc, vc = climb(p, X[order], vals[order], seeds, rng, deadline=t0 + 0.7 * seconds)
    vc, which = norms_at(p, Xc, seeds)
    best = Primal(None, None, None, float(np.max(vc)) if vc.size else None,
                  points=int(X.shape[0]), stats={"sampled_best": float(vals.max())})
    # certify distinct patterns, best first: the IR value is only a candidate until verified
    for i in np.argsort(-vc, kind="stable")[:certified]:
        w, cols = certify(p, low, Xc[i], seeds[which[i]])
        if w.value is not None and (best.value is None or w.value > best.value):
            best.value, best.witness, best.start = w.value, w, cols
    best.seconds = time.perf_counter() - t0
    return best
