"""Walking to neighbouring activation regions by flipping one unstable neuron at a time.

Sampling and climbing stop improving once every proposal at a small radius lands in the same
region: the gradient norm is constant on a region, so only a *different* region can raise it.
The neighbours of a region are (generically) the patterns one flip away whose hyperplane is a
facet of the region inside the domain.  A step here

1. scores every single flip of an open neuron at once: with every forward gate forced to the
   flipped pattern, the compiled backward pass gives that pattern's gradient exactly (the
   gradient of a pattern is a product of masked weight matrices), one batch column per flip;
2. tries the flips whose score beats the current value, best first: the flipped pattern is
   handed to the witness machinery (:func:`verify_columns`), whose Chebyshev LP is the
   feasibility test of the pattern's region inside the domain and whose ``certify_point`` at
   the centre gives the certified value;
3. moves to the first certified improvement.

Scores only rank candidates; a value becomes a lower bound only through the witness.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..compiler.pipeline import Problem
from ..core.interpret import evaluate
from ..core.ir import Conditional, Input
from ..lowering import Lowered
from .witness import Witness, verify

GAIN = 1e-9                    # relative score gain a flip needs to be tried
TRIES_PER_STEP = 12            # feasibility LPs per step before the walk gives up on a point


@dataclass
class Walk:
    """The best certified point a walk reached and what it took."""

    witness: Witness
    steps: int = 0
    scored: int = 0            # flipped patterns whose gradient norm was computed
    tried: int = 0             # flipped patterns handed to the feasibility LP + certification


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


def norms_at(p: Problem, X: np.ndarray, seeds: np.ndarray,
             forced: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(best dual gradient norm, index of its seed) at every row of X, from the compiled IR.
    ``forced`` maps forward conditionals to 0/1 values of shape (size, rows of X), overriding
    their value at the points: then column k is the gradient of that pattern (exact in floating
    point for the pattern, whatever point of its region row k is)."""
    by_op = {id(p.graph.op(n)): v for n, v in (forced or {}).items()}

    def gate(op, vals):
        return by_op[id(op)] if id(op) in by_op else (vals[op.src] > 0).astype(np.float64)

    dual = p.query.input_norm.dual
    best, which = np.full(X.shape[0], -np.inf), np.zeros(X.shape[0], dtype=int)
    for j, c in enumerate(seeds):
        G = evaluate(p.graph, leaves_of(p, X, c), [p.gradient], rules={Conditional: gate})
        vals = np.array([dual(g) for g in G[p.gradient].T])
        better = vals > best
        best[better], which[better] = vals[better], j
    return best, which


def flips(pattern: dict[str, np.ndarray], gates: dict[str, np.ndarray]
          ) -> tuple[dict[str, np.ndarray], list[tuple[str, int]]]:
    """Every single flip of an open entry of ``pattern``: the (size, K) forced gate values, one
    column per flip, and which (gate, entry) each column flips."""
    moves = [(g, int(i)) for g, idx in gates.items() for i in idx]
    forced = {g: np.repeat(np.asarray(pattern[g], float)[:, None], len(moves), axis=1)
              for g in gates}
    for k, (g, i) in enumerate(moves):
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


def step(p: Problem, low: Lowered, w: Witness, gates: dict[str, np.ndarray],
         seeds: np.ndarray, deadline: float, walk: Walk) -> Witness | None:
    """One move from the certified point ``w`` to a certified better neighbour, or None."""
    pattern = {g: np.asarray(v, float) for g, v in w.pattern.items()}
    x = np.asarray(w.x, float)
    forced, moves = flips(pattern, gates)
    if not moves:
        return None
    score, which = norms_at(p, np.repeat(x[None, :], len(moves), axis=0), seeds, forced)
    walk.scored += len(moves)
    # a flip scoring the same as the region (up to rounding) is not worth an LP
    order = [k for k in np.argsort(-score, kind="stable") if score[k] > w.value * (1 + GAIN)]
    for k in order[:TRIES_PER_STEP]:
        if time.perf_counter() > deadline:
            return None
        walk.tried += 1
        flipped = {g: f[:, k] for g, f in forced.items()}
        got = verify(p, low, np.nan_to_num(columns(p, low, x, {**pattern, **flipped},
                                                         seeds[which[k]])))
        if got.value is not None and got.value > w.value:
            return got
    return None


def key_of(w: Witness) -> bytes:
    """A witness's activation pattern as a hashable key (visited regions)."""
    return b"".join(np.asarray(w.pattern[g], np.int8).tobytes() for g in sorted(w.pattern))


def walk(p: Problem, low: Lowered, start: Witness, seeds: np.ndarray, deadline: float,
         seen: set[bytes] | None = None) -> Walk:
    """Flip-walk from a certified point until no single flip certifies an improvement, the
    walk enters a region in ``seen`` (walked from before: updated here), or the deadline
    passes; the result's witness is certified (the start at worst)."""
    out = Walk(start)
    gates = open_gates(p)
    seen = set() if seen is None else seen
    while start.value is not None and time.perf_counter() < deadline:
        key = key_of(out.witness)
        if key in seen:
            break
        seen.add(key)
        nxt = step(p, low, out.witness, gates, seeds, deadline, out)
        if nxt is None:
            break
        out.witness, out.steps = nxt, out.steps + 1
    return out
