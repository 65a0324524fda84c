"""Walking to neighbouring activation regions by flipping unstable neurons.

Sampling and climbing stop improving once every proposal at a small radius lands in the same
region: the gradient norm is constant on a region, so only a *different* region can raise it.
The neighbours of a region are (generically) the patterns one flip away whose hyperplane is a
facet of the region inside the domain.  A step here

1. scores every single flip of an open neuron at once: with every forward gate forced to the
   flipped pattern, the compiled backward pass gives that pattern's gradient exactly (the
   gradient of a pattern is a product of masked weight matrices), one batch column per flip;
2. finds the region's neighbours by shooting rays from the current point: inside the region the
   pre-activations are affine in the input, so the first hyperplane a ray meets is a facet,
   exactly, and a point a little past it lies in that neighbour (a batch forward pass checks).
   A neighbour scoring above the current value is certified there (:func:`certify_point`, no
   LP), best score first;
3. when none does, scores the pairs of flips through the best neighbours a ray reached
   (worse or not) and shoots on from there to the pairs that beat the current value: a pair
   can reach a better region whose single-flip neighbours on the way are all worse (or empty);
4. last, hands a few of the better flips and pairs no ray reached to the Chebyshev LP over the
   pattern's sign rows (:func:`deepest_point`: the feasibility test of the region inside the
   domain) and certifies its deepest point.  Such a region need not touch the current one (a
   flip of a deep neuron can be feasible only far away): measured, most improvements on the
   [10, 20, 30, 20, 2] nets are these jumps, and most of the walk's work is their LPs.

Scores only rank candidates; a value becomes a lower bound only through the witness.  The walk
spends a :class:`Budget` counted in work (certifications and LPs), so it is deterministic; the
budget's wall-clock cap is a safety net for nets far larger than the cost model expects.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..compiler.pipeline import Problem
from ..core.interpret import evaluate
from ..core.ir import Conditional, Input
from ..lowering import Lowered
from ..question.chebyshev import deepest_point
from .witness import Witness, certify_point

GAIN = 1e-9                    # relative score gain a flip needs to be tried
TRIES_PER_STEP = 6             # feasibility LPs per step for flips (and again for pairs)
PAIR_OF = 8                    # pairs start from this many best-scoring reached neighbours
# how far past the facet a ray lands, as a fraction of the way to the next hyperplane on the
# ray (at most as far again as the facet): the largest that lands in the neighbour is taken
# (deeper certifies easier)
OVERSHOOT = (0.5, 0.1, 0.01, 0.001)
RAYS = 32                      # random rays per step, besides two aimed at each candidate flip
LP_WORK = 4                    # a Chebyshev LP costs about this many point certifications


@dataclass
class Budget:
    """Work the primal search may still spend, in point certifications (an LP costs
    LP_WORK): counting work, not seconds, makes the search deterministic for a given seed.
    ``deadline`` (perf_counter) is only a safety cap for nets the work count misjudges."""

    work: float
    deadline: float = float("inf")

    def left(self) -> bool:
        """At least one certification's work is left (and the safety cap has not passed)."""
        return self.work >= 1 and time.perf_counter() < self.deadline

    def spend(self, units: float) -> bool:
        """Take ``units`` of work if that much is left."""
        if not self.left() or self.work < units:
            return False
        self.work -= units
        return True


@dataclass
class Walk:
    """The best certified point a walk reached and what it took."""

    witness: Witness
    known: set[bytes] = field(default_factory=set)   # regions walked from or found empty
    steps: int = 0
    scored: int = 0            # flipped patterns whose gradient norm was computed
    crossed: int = 0           # ray landings certified where they stand
    tried: int = 0             # flipped patterns handed to the feasibility LP + certification
    pairs: int = 0             # two-flip moves taken


def open_gates(p: Problem) -> dict[str, np.ndarray]:
    """Forward conditionals and the indices of their open (unstable) entries: the only
    entries a flip may change (a stable entry's sign holds on the whole domain)."""
    out = {}
    for name in p.graph.topo():
        op = p.graph.op(name)
        if isinstance(op, Conditional) and p.graph.stage(name) == "forward":
            bd = p.graph.bounds[name]
            idx = np.flatnonzero(bd.lo != bd.hi)
            if idx.size:
                out[name] = idx
    return out


def leaves_of(p: Problem, X: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
    """Leaf values for a batch of inputs (rows of X) and one seed c of the output set."""
    leaves = {p.network.input: X.T}
    seed = p.graph.role("seed")
    if isinstance(p.graph.op(seed), Input):          # C is a set: the seed is a variable
        leaves[seed] = np.repeat(np.asarray(c, float)[:, None], X.shape[0], axis=1)
    return leaves


def _forcing(p: Problem, forced: dict[str, np.ndarray] | None):
    """The conditional rule of :func:`evaluate` with ``forced`` gate values overriding."""
    by_op = {id(p.graph.op(n)): v for n, v in (forced or {}).items()}

    def gate(op, vals):
        return by_op[id(op)] if id(op) in by_op else (vals[op.src] > 0).astype(np.float64)
    return {Conditional: gate}


def norms_at(p: Problem, X: np.ndarray, seeds: np.ndarray,
             forced: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(best dual gradient norm, index of its seed) at every row of X, from the compiled IR.
    ``forced`` maps forward conditionals to 0/1 values of shape (size, rows of X), overriding
    their value at the points: then column k is the gradient of that pattern (exact in floating
    point for the pattern, whatever point of its region row k is)."""
    rules = _forcing(p, forced)
    dual = p.query.input_norm.dual
    best, which = np.full(X.shape[0], -np.inf), np.zeros(X.shape[0], dtype=int)
    for j, c in enumerate(seeds):
        G = evaluate(p.graph, leaves_of(p, X, c), [p.gradient], rules=rules)
        vals = np.array([dual(g) for g in G[p.gradient].T])
        better = vals > best
        best[better], which[better] = vals[better], j
    return best, which


def bits_at(p: Problem, X: np.ndarray, gates: dict[str, np.ndarray]) -> np.ndarray:
    """The open entries' gate values (0/1, int8) at every row of X, one row per point, in the
    order of ``gates``: the region a point lies in, as :func:`bits_of` writes a pattern."""
    if not gates:
        return np.zeros((X.shape[0], 0), np.int8)
    seed = np.zeros(p.graph.op(p.graph.role("seed")).size)
    vals = evaluate(p.graph, leaves_of(p, X, seed), list(gates))
    return np.vstack([vals[g][idx] for g, idx in gates.items()]).T.astype(np.int8)


def key_of(forced: dict[str, np.ndarray], gates: dict[str, np.ndarray], k: int) -> bytes:
    """The region key (:func:`bits_of`'s bytes) of column k of forced gate values."""
    return np.concatenate([forced[g][idx, k] for g, idx in gates.items()]
                          ).astype(np.int8).tobytes()


def bits_of(pattern: dict, gates: dict[str, np.ndarray]) -> np.ndarray:
    """A pattern's open entries (0/1, int8) in the order of ``gates``."""
    if not gates:
        return np.zeros(0, np.int8)
    return np.concatenate([np.asarray(pattern[g])[idx] for g, idx in gates.items()]
                          ).astype(np.int8)


def flips(pattern: dict[str, np.ndarray], gates: dict[str, np.ndarray],
          moves: list[tuple[tuple[str, int], ...]] | None = None
          ) -> tuple[dict[str, np.ndarray], list[tuple[tuple[str, int], ...]]]:
    """The (size, K) forced gate values of K moves from ``pattern``, one column per move, and
    the moves: each a tuple of (gate, entry) flips; default every single flip of an open
    entry."""
    if moves is None:
        moves = [((g, int(i)),) for g, idx in gates.items() for i in idx]
    forced = {g: np.repeat(np.asarray(pattern[g], float)[:, None], len(moves), axis=1)
              for g in gates}
    for k, move in enumerate(moves):
        for g, i in move:
            forced[g][i, k] = 1.0 - forced[g][i, k]
    return forced, moves


def columns(p: Problem, low: Lowered, x: np.ndarray, pattern: dict[str, np.ndarray],
            seed: np.ndarray | None) -> np.ndarray:
    """What the witness reads of a root MIP solution (input, forward binaries, seed) for input
    x under ``pattern`` and seed c (None: left unknown); every other column NaN."""
    cols = np.full(low.mip.n_cols, np.nan)
    vals = {p.network.input: x, **pattern}
    if seed is not None and isinstance(p.graph.op(p.graph.role("seed")), Input):
        vals[p.graph.role("seed")] = seed
    for name, v in vals.items():
        lv = low.values.get(name)
        if lv is not None:
            cols[lv.cols[lv.var]] = np.asarray(v, float)[lv.var]
    return cols


def pre_forms(p: Problem, x: np.ndarray, gates: dict[str, np.ndarray],
              fixed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The open pre-activations as affine functions z0 + A (y - x) of the input y, under each
    of m patterns (``fixed``: gate -> (size, m) values): z0 of shape (m, open entries) and A of
    shape (m, open entries, d), from (d + 1) m forced forward passes (exact for an affine map
    up to rounding, which only moves proposals: certification is rigorous)."""
    dom, d = p.domain, x.size
    m = next(iter(fixed.values())).shape[1]
    step = np.maximum(dom.hi - dom.lo, 1e-12)
    P = np.tile(np.vstack([x, x + np.diag(step)]), (m, 1))
    forced = {g: np.repeat(v, d + 1, axis=1) for g, v in fixed.items()}
    seed = np.zeros(p.graph.op(p.graph.role("seed")).size)
    srcs = {g: p.graph.op(g).src for g in gates}
    Z = evaluate(p.graph, leaves_of(p, P, seed), list(srcs.values()), rules=_forcing(p, forced))
    Z = np.vstack([Z[srcs[g]][idx] for g, idx in gates.items()]).reshape(-1, m, d + 1)
    Z = Z.transpose(1, 0, 2)                                  # (m, open entries, d + 1)
    return Z[:, :, 0], (Z[:, :, 1:] - Z[:, :, :1]) / step


def crossings(p: Problem, x: np.ndarray, pattern: dict[str, np.ndarray],
              gates: dict[str, np.ndarray], picks: list[int]) -> dict[int, np.ndarray]:
    """Points of neighbouring regions found by shooting rays from x (inside the region of
    ``pattern``): flip index (into the default :func:`flips` moves) -> a point of the region
    with that one flip.  Inside the region the open pre-activations are affine in the input
    (:func:`pre_forms`), so along a ray the first hyperplane it meets is known exactly: that
    neuron's hyperplane is a facet of the region (the region is convex), and a point a little
    past it lies in the neighbour.  Rays: towards the hyperplane of each flip in ``picks``,
    towards the corner of the box against it, and RAYS fixed random directions; a batch
    forward pass keeps the landing points strictly in the box with exactly the one flip (the
    deepest of the OVERSHOOT fractions of the way to the next hyperplane)."""
    dom, d = p.domain, x.size
    z0, A = pre_forms(p, x, gates, {g: np.asarray(v, float)[:, None] for g, v in pattern.items()
                                    if g in gates})
    z, A = z0[0], A[0]
    k = np.asarray(picks, dtype=int)
    towards = -np.sign(z[k])[:, None] * A[k]
    corner = np.where(towards > 0, dom.hi, dom.lo) - x
    width = dom.hi - dom.lo
    U = np.vstack([towards, corner, np.random.default_rng(0).standard_normal((RAYS, d)) * width])
    U = U[np.any(U != 0, axis=1)]
    S = U @ A.T                                                   # dz/dt along each ray
    with np.errstate(divide="ignore", invalid="ignore"):
        T = np.where(S * z < 0, -z / S, np.inf)                   # when each sign changes
        box = np.where(U > 0, (dom.hi - x) / U, np.where(U < 0, (dom.lo - x) / U, np.inf))
    T = np.hstack([T, box.min(axis=1, keepdims=True)])           # last column: leaving the box
    order = np.argsort(T, axis=1)[:, :2]
    first, t1 = order[:, 0], np.take_along_axis(T, order[:, :1], axis=1)[:, 0]
    t2 = np.take_along_axis(T, order[:, 1:2], axis=1)[:, 0]
    keep = (first < z.size) & np.isfinite(t1)
    U, first, t1, t2 = U[keep], first[keep], t1[keep], np.minimum(t2[keep], 2 * t1[keep] + 1e-300)
    if not first.size:
        return {}
    eta = np.asarray(OVERSHOOT)
    Y = x + (t1[:, None] + eta * (t2 - t1)[:, None])[..., None] * U[:, None, :]   # (rays, etas, d)
    want = np.repeat(bits_of(pattern, gates)[None, :], first.size, axis=0)
    want[np.arange(first.size), first] ^= 1
    flat = Y.reshape(-1, d)
    inbox = np.all((flat > dom.lo) & (flat < dom.hi), axis=1).reshape(first.size, -1)
    hit = inbox & np.all(bits_at(p, flat, gates).reshape(first.size, eta.size, -1)
                         == want[:, None, :], axis=2)
    out: dict[int, np.ndarray] = {}
    for r in np.flatnonzero(hit.any(axis=1)):
        out.setdefault(int(first[r]), Y[r, int(np.argmax(hit[r]))])
    return out


def _lp_tries(p: Problem, w: Witness, gates: dict[str, np.ndarray], forced: dict[str, np.ndarray],
              order: list[int], walk: Walk, budget: Budget) -> Witness | None:
    """The first of the moves ``order`` (columns of ``forced``) whose region's deepest point
    (a Chebyshev LP over the pattern's sign rows, :func:`deepest_point`, which also finds an
    empty region) certifies above ``w``; at most TRIES_PER_STEP LPs.  An empty region joins
    ``walk.known``, which no later step proposes."""
    order = order[:TRIES_PER_STEP]
    if not order:
        return None
    x = np.asarray(w.x, float)
    z0, A = pre_forms(p, x, gates, {g: f[:, order] for g, f in forced.items()})
    for r, k in enumerate(order):
        if not budget.spend(LP_WORK):
            return None
        walk.tried += 1
        bits = np.concatenate([forced[g][idx, k] for g, idx in gates.items()])
        sign = np.where(bits > 0.5, -1.0, 1.0)            # on: -z <= 0; off: z <= 0
        centre, radius = deepest_point(sign[:, None] * A[r],
                                       sign * (A[r] @ x - z0[r]), p.domain)
        if centre is None or not radius > 0:
            walk.known.add(key_of(forced, gates, k))
            continue
        got = certify_point(p, centre)
        if got is not None and got.value > w.value:
            return got
    return None


def _certify_each(p: Problem, w: Witness, points: list[np.ndarray], walk: Walk,
                  budget: Budget) -> Witness | None:
    """The first of ``points`` (ray landings, best score first) that certifies above w."""
    for y in points:
        if not budget.spend(1):
            return None
        walk.crossed += 1
        got = certify_point(p, y)
        if got is not None and got.value > w.value:
            return got
    return None


def step(p: Problem, w: Witness, gates: dict[str, np.ndarray],
         seeds: np.ndarray, walk: Walk, budget: Budget) -> Witness | None:
    """One move from the certified point ``w`` to a certified better region (one flip, else a
    pair of flips), or None."""
    pattern = {g: np.asarray(v, float) for g, v in w.pattern.items()}
    x = np.asarray(w.x, float)
    forced, moves = flips(pattern, gates)
    if not moves:
        return None
    score, _ = norms_at(p, np.repeat(x[None, :], len(moves), axis=0), seeds, forced)
    walk.scored += len(moves)
    ranked = [int(k) for k in np.argsort(-score, kind="stable")]
    landed = crossings(p, x, pattern, gates, ranked)
    # a flip scoring the same as the region (up to rounding) is not worth a certification,
    # nor one into a region walked from before or found empty
    better = [k for k in ranked if score[k] > w.value * (1 + GAIN)
              and key_of(forced, gates, k) not in walk.known]
    got = _certify_each(p, w, [landed[k] for k in better if k in landed], walk, budget)
    pairs = None
    if got is None and budget.left():
        got, pairs = _pair_step(p, w, (forced, moves, ranked, landed), gates, seeds, walk,
                                budget)
        walk.pairs += got is not None
    # the LPs last: one costs LP_WORK certifications, and most flips no ray reached are empty
    if got is None:
        got = _lp_tries(p, w, gates, forced, [k for k in better if k not in landed], walk,
                        budget)
    if got is None and pairs is not None:
        got = _lp_tries(p, w, gates, *pairs, walk, budget)
        walk.pairs += got is not None
    return got


def _pair_step(p: Problem, w: Witness, singles: tuple, gates: dict[str, np.ndarray],
               seeds: np.ndarray, walk: Walk, budget: Budget) -> tuple[Witness | None, tuple]:
    """A better region two flips away, through one of the PAIR_OF best-scoring neighbours
    that a ray reached (worse or not): every second flip from each is scored in one batch, the
    rays of :func:`crossings` are shot again from the neighbour's landing point, and the pairs
    beating ``w`` that they reach are certified, best first.  Also returns what the LP needs to
    try the better pairs no ray reached (their forced gates, and their columns best first)."""
    forced, moves, ranked, landed = singles
    x = np.asarray(w.x, float)
    pattern = {g: np.asarray(v, float) for g, v in w.pattern.items()}
    firsts = [i for i in ranked if i in landed][:PAIR_OF]
    pairs = [(i, j) for i in firsts for j in range(len(moves)) if j != i]
    if not pairs:
        return None, ({}, [])
    forced2, _ = flips(pattern, gates, [moves[i] + moves[j] for i, j in pairs])
    score2, _ = norms_at(p, np.repeat(x[None, :], len(pairs), axis=0), seeds, forced2)
    walk.scored += len(pairs)
    order = [int(k) for k in np.argsort(-score2, kind="stable")
             if score2[k] > w.value * (1 + GAIN) and key_of(forced2, gates, k) not in walk.known]
    reached = {}
    for i in dict.fromkeys(pairs[k][0] for k in order):
        via = {g: f[:, i] for g, f in forced.items()}
        js = [pairs[k][1] for k in order if pairs[k][0] == i]
        reached.update({(i, j): y for j, y in crossings(p, landed[i], via, gates, js).items()})
    got = _certify_each(p, w, [reached[pairs[k]] for k in order if pairs[k] in reached],
                        walk, budget)
    return got, (forced2, [k for k in order if pairs[k] not in reached])


def walk(p: Problem, start: Witness, seeds: np.ndarray, budget: Budget,
         known: set[bytes] | None = None) -> Walk:
    """Flip-walk from a certified point until no move certifies an improvement, the walk
    enters a region in ``known`` (walked from before, or found empty: updated here, keys
    :func:`bits_of`'s bytes), or the budget is spent; the result's witness is certified (the
    start at worst)."""
    out = Walk(start, set() if known is None else known)
    gates = open_gates(p)
    while start.value is not None and budget.left():
        key = bits_of(out.witness.pattern, gates).tobytes()
        if key in out.known:
            break
        out.known.add(key)
        nxt = step(p, out.witness, gates, seeds, out, budget)
        if nxt is None:
            break
        out.witness, out.steps = nxt, out.steps + 1
    return out
