"""The primal side: verified lower bounds found fast, before and during any solve.

The gradient norm ||J(x)^T c||_* is piecewise constant over activation regions, so the lower
bound improves only by reaching a region with a larger norm.  Four cheap steps do most of it:

1. sample the domain (seeded) and evaluate the gradient of the compiled backward pass at every
   point in one batch (exact inside a region);
2. climb from the best points: propose neighbours at a shrinking radius and move to any with a
   larger norm (a move to a neighbouring region; a step that finds none halves the radius);
3. certify the best few points: the activation pattern at the point is written as a MIP column
   vector (:func:`start_columns`, the inverse of how the witness reads a solution) and handed to
   :func:`certify`, the one call site of the witness machinery (a Chebyshev point of the pattern's
   region, the gradient recomputed on the original network).  The same columns are the MIP start;
4. walk from the certified points to neighbouring regions by flips of unstable neurons
   (:mod:`lipc.verify.walk`), each move certified by the same witness machinery, then restart
   from the best sampled points whose region no walk has been through (checked on the point's
   pattern before anything is certified).

Every step counts work, not seconds, so the result is a function of the seed (the wall-clock
cap is a safety net that the benchmark instances do not reach).
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
from .walk import Budget, bits_at, columns, leaves_of, norms_at, open_gates, walk
from .witness import Witness, certify_point, verify

# restarts of the walk in a row that found nothing better before it stops early: the work
# budget alone would restart from every sampled point on easy nets (the 1000-net soundness
# test runs a search before every solve)
STALE_WALKS = 8
WORK = 150.0                   # the walk's work (certifications of a REFERENCE_SIZE net)
REFERENCE_SIZE = 10 * 70       # inputs x neurons of the [10, 20, 30, 20, 2] nets
# the climb's work in evaluated points times size: all CLIMB_ROUNDS on the small nets, 5 on
# a 784-256-256 net (~0.3 s)
CLIMB_WORK = 4e8
CLIMB_ROUNDS = 40
NEIGHBOURS = 24                # proposals per point and climb round
SAFETY_SECONDS = 3.0           # wall-clock cap: only for nets the work count misjudges
MAX_RANDOM_SEEDS = 64          # a box C too large to enumerate: this many random sign vectors
PULL = 1e-9                    # relative pull of a boundary point into the domain's interior


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
          rng: np.random.Generator, rounds: int = CLIMB_ROUNDS, neighbours: int = NEIGHBOURS,
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
    vals = evaluate(p.graph, leaves_of(p, x[None, :], c), targets)
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
    """A verified lower bound at x, and the MIP start columns of x's pattern.  A sampled point
    is almost surely strictly inside its region, so it is certified where it stands first (no
    LP: what keeps the first bound within a second on wide nets), or pulled a hair towards the
    domain's centre (the climb clips points onto the box's faces, which are not interior); the
    witness's Chebyshev point of the pattern's region only when both fail."""
    cols = start_columns(p, low, x, c)
    centre = p.domain.center
    for y in (x, centre + (1 - PULL) * (x - centre)):
        w = certify_point(p, y)
        if w is not None:
            return w, cols
    return verify_columns(p, low, cols), cols


def pattern_columns(p: Problem, low: Lowered, x: np.ndarray, pattern: dict[str, np.ndarray],
                    seed: np.ndarray | None) -> np.ndarray:
    """Columns of the root MIP for input x with the activation ``pattern`` (forward
    conditional -> 0/1 entries; conditionals it lacks take their value at x) and seed c: what
    the witness reads (input, forward binaries, seed), everything else NaN."""
    gates = [n for n in low.values if isinstance(p.graph.op(n), Conditional)
             and p.graph.stage(n) == "forward"]
    # no unstable neuron, no gate to evaluate (evaluate reads no targets as "every node", and
    # the leaves here lack the seed set's auxiliary inputs)
    at_x = evaluate(p.graph, leaves_of(p, x[None, :], seeds_of(p, np.random.default_rng(0))[0]),
                    gates) if gates else {}
    return columns(p, low, x, {n: pattern.get(n, at_x[n][:, 0]) for n in gates}, seed)


def search(p: Problem, low: Lowered, seconds: float = SAFETY_SECONDS, samples: int = 2000,
           seed: int = 0, starts: int = 8, certified: int = 3, flip_walk: bool = True,
           work: float = WORK) -> Primal:
    """Sample, climb, certify and (``flip_walk``) walk to neighbouring regions by flips.

    Deterministic for a given seed: the climb's rounds and the walk's ``work`` (counted in
    certifications of a point of a reference-size net, see :func:`walk_budget`) depend on the
    net's size, never on seconds.  ``seconds`` is only a safety cap for nets far larger than
    the work count expects: when it cuts the search short, the result depends on the machine's
    speed (``stats["capped"]`` says so); it does not trigger on the benchmark instances
    (benchmarks/primal.py, mnist256x2-0.03 included)."""
    t0 = time.perf_counter()
    budget = walk_budget(p, work, t0 + seconds)
    rng = np.random.default_rng(seed)
    seeds = seeds_of(p, rng)
    X = sample_domain(p.domain, samples, rng)
    vals, _ = norms_at(p, X, seeds)
    gates = open_gates(p)
    keys = [b.tobytes() for b in bits_at(p, X, gates)]
    ranked = distinct(np.argsort(-vals, kind="stable"), keys)
    order = ranked[:starts]
    rounds = int(min(CLIMB_ROUNDS, CLIMB_WORK // (max(1, order.size) * NEIGHBOURS * size_of(p))))
    Xc, vc = climb(p, X[order], vals[order], seeds, rng, rounds, deadline=budget.deadline)
    vc, which = norms_at(p, Xc, seeds)
    best = Primal(None, None, None, float(np.max(vc)) if vc.size else None,
                  points=int(X.shape[0]), stats={"sampled_best": float(vals.max())})
    # certify distinct patterns, best first: the IR value is only a candidate until verified
    found = []
    climbed = np.argsort(-vc, kind="stable")
    for i in climbed[:certified]:
        if found and not budget.spend(1):
            break
        w, cols = certify(p, low, Xc[i], seeds[which[i]])
        if w.value is not None:
            found.append((w, cols))
    found.sort(key=lambda wc: -wc[0].value)
    if found:
        best.witness, best.start = found[0]
        best.value = best.witness.value
        best.stats["climbed"] = best.value
    if flip_walk and budget.left():
        rest = Xc[climbed[certified:]]
        restarts = [*zip((b.tobytes() for b in bits_at(p, rest, gates)), rest),
                    *((keys[i], X[i]) for i in ranked[starts:])]
        _walk_from(p, low, [w for w, _ in found], restarts, seeds, budget, best)
    best.stats["capped"] = time.perf_counter() > budget.deadline
    best.seconds = time.perf_counter() - t0
    return best


def walk_budget(p: Problem, work: float, deadline: float) -> Budget:
    """The walk's work in certifications of the net at hand: ``work`` counts certifications
    of a REFERENCE_SIZE net (inputs times neurons: the size of the dense forms a
    certification builds, and of the rows of its LP), so a larger net gets fewer."""
    return Budget(work * min(1.0, REFERENCE_SIZE / size_of(p)), deadline)


def size_of(p: Problem) -> int:
    """Inputs times neurons: what the cost of an evaluation, a certification and an LP
    grows with, for the work counts."""
    neurons = sum(p.graph.op(n).size for n in p.graph.nodes()
                  if isinstance(p.graph.op(n), Conditional) and p.graph.stage(n) == "forward")
    return max(1, p.network.n_inputs * neurons)


def distinct(order: np.ndarray, keys: list[bytes]) -> np.ndarray:
    """The indices of ``order`` whose key was not met earlier in it (one point per region)."""
    met: set[bytes] = set()
    out = []
    for i in order:
        if keys[i] not in met:
            met.add(keys[i])
            out.append(i)
    return np.asarray(out, dtype=int)


def _walk_from(p: Problem, low: Lowered, found: list[Witness],
               restarts: list[tuple[bytes, np.ndarray]], seeds: np.ndarray, budget: Budget,
               best: Primal) -> None:
    """Flip-walk from the certified climbed points, then from the ``restarts`` (the other
    climbed and sampled points, best first, with their pattern's key), never twice through a
    region: a restart whose region a walk went through is skipped before it is certified.
    Stops when the budget is spent or after STALE_WALKS walks in a row found nothing better;
    ``best`` takes any certified improvement and its MIP start."""
    totals = dict(walks=0, walk_steps=0, walk_scored=0, walk_crossed=0, walk_tried=0,
                  walk_pairs=0, restarts_skipped=0)
    known: set[bytes] = set()            # regions walked from or found empty
    stale = 0
    for s in [*found, *restarts]:
        if not budget.left() or stale >= STALE_WALKS:
            break
        if isinstance(s, tuple):               # a restart: certified only if not yet known
            key, x = s
            if key in known:
                totals["restarts_skipped"] += 1
                continue
            if not budget.spend(1):
                break
            s = certify_point(p, x)
            if s is None:
                continue
        r = walk(p, s, seeds, budget, known)
        for k, v in (("walks", 1), ("walk_steps", r.steps), ("walk_scored", r.scored),
                     ("walk_crossed", r.crossed), ("walk_tried", r.tried),
                     ("walk_pairs", r.pairs)):
            totals[k] += v
        if best.value is None or r.witness.value > best.value:
            best.witness, best.value = r.witness, r.witness.value
            best.start = start_columns(p, low, np.asarray(r.witness.x), np.asarray(r.witness.c))
            stale = 0
        else:
            stale += 1
    best.stats.update(totals)
