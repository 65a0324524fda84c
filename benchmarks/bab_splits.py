"""Input-box halves against neuron splits, measured at the nodes of a branch-and-bound path.

    python benchmarks/bab_splits.py                          # C-cube, A-0.15, A-0.2
    python benchmarks/bab_splits.py --only A-0.15 --depth 4 --neurons 8 --tree 15

Why: LipBaB (Bhowmick et al. 2021) splits the input box instead of neurons; on a low-dimensional
box a half might stabilise first-layer neurons and tighten every bound downstream.  This measures
both kinds with the node bound lipc.bab uses (the smaller of the bound passes' objective bound
and the node's LP, each child compiled from its parent's bounds).  At the root, and then at the
worse child of the best neuron split down to ``--depth``: the worse child's bound and the
children's binaries of the best halving of each input (and, at the root, of the best two
quarterings: one input twice, the two best inputs once each) against the best of the
``--neurons`` unstable neurons with the largest relaxation area.  With ``--tree E``, also two
best-first searches of E expansions, one per kind (each split the best of its kind, as above):
the global bound (largest open node's) after each expansion.  Instances: benchmarks/bab.py's.

Measured 2026-12-03 (CPU ~2.2 s per C-cube child, 0.25 s per A child; scaled units: C-cube's
objective is the constant / 8), worse child's bound (binaries of the two children):

| node | bound (binaries) | best input half | best neuron split |
|---|---|---|---|
| C-cube root | 0.6730 (78) | x4 0.6427 (77, 76) | v1[7] 0.5923 (75, 74) |
| C-cube depth 1 | 0.5923 (75) | x4 0.5655 (72, 74) | v1[3] 0.5177 (71, 72) |
| C-cube depth 2 | 0.5177 (72) | x4 0.5025 (71, 70) | v1[15] 0.4625 (70, 68) |
| A-0.15 root | 0.5227 (35) | x4 0.4965 (34, 34) | v1[3] 0.4543 (33, 32) |
| A-0.15 depth 1-4 | 0.4543 / 0.3299 / 0.2935 / 0.2790 | 0.4406 / 0.3201 / 0.2913 / 0.2771 | 0.3299 / 0.2935 / 0.2790 / 0.2639 |
| A-0.2 root | 0.7311 (40) | x6 0.6959 (38, 39) | v1[0] 0.6124 (37, 35) |
| A-0.2 depth 1-4 | 0.6124 / 0.5334 / 0.4959 / 0.4608 | 0.5627 / 0.5053 / 0.4668 / 0.4328 | 0.5334 / 0.4959 / 0.4608 / 0.4289 |
| A-0.2 depth 5-7 | 0.4289 / 0.3695 / 0.3421 | 0.3808 / 0.3505 / 0.3245 | 0.3695 / 0.3421 / 0.3092 |

Quarter boxes at the root (four children against the neuron split's two): C-cube 0.6383 (x4
twice) and 0.6153 (x4, x7); A-0.15 0.4841 and 0.4825; A-0.2 0.6711 and 0.6690.  Binaries fall by
similar counts, but the bound falls more under the neuron split at every node: 2.6-3.7x more on
C-cube, 2.6-9x on A-0.15, 1.1-3.4x on A-0.2.  Each first-layer neuron depends on all ten inputs,
so halving one input narrows its pre-activation range by |w_d| / (2 sum |w_i|), about a
twentieth when the weights are alike, and the node's LP keeps most of its relaxation.

Trees (``--tree``), global bound after E expansions, neuron splits only / input halves only:
A-0.15, E = 15: 0.2592 / 0.3579 (exact 0.18058; 41 / 66 CPU s, largest open node 25 / 31
binaries); A-0.2, E = 15: 0.3663 / 0.5741 (56 / 91 CPU s, 32 / 36); C-cube, E = 5: 0.5096 /
0.5964 (134 / 198 CPU s, 71 / 75).  So lipc.bab splits neurons only.
"""
from __future__ import annotations

import argparse
import heapq
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from lipc.api import ask
from lipc.bab.node import (NodeLP, forward_unstable, inherited_bounds, node_problem,
                           objective_bound)
from lipc.compiler import entry
from lipc.compiler.pipeline import Problem, lower_problem
from lipc.question.domain import Domain

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bab import suite  # noqa: E402


class Node(NamedTuple):
    bound: float
    binaries: int
    domain: Domain
    splits: tuple
    problem: Problem


def bounded(p: Problem, dom: Domain, splits: tuple, parent: Node | None) -> Node:
    """A node bounded as lipc.bab.node bounds it (from its parent's bounds)."""
    q = node_problem(p.network, dom, p.query, splits, "auto",
                     None if parent is None else inherited_bounds(parent.problem))
    low = lower_problem(q)
    return Node(min(objective_bound(q), NodeLP(low).value), int(low.mip.meta["binaries"]), dom,
                splits, q)


def halved(dom: Domain, d: int, side: int) -> Domain:
    """The lower (side 0) or upper (side 1) half of the box along input ``d``."""
    lo, hi = dom.lo.copy(), dom.hi.copy()
    mid = lo[d] + (hi[d] - lo[d]) / 2
    (lo if side else hi)[d] = mid
    return replace(dom, lo=lo, hi=hi)


def input_halves(p: Problem, n: Node, neurons: int) -> Iterator[tuple[str, list[Node]]]:
    for d in range(n.domain.dim):
        yield f"x{d}", [bounded(p, halved(n.domain, d, s), n.splits, n) for s in (0, 1)]


def neuron_splits(p: Problem, n: Node, neurons: int) -> Iterator[tuple[str, list[Node]]]:
    for _, z, j, _ in forward_unstable(n.problem)[:neurons]:
        yield f"{z}[{j}]", [bounded(p, n.domain, n.splits + ((z, j, s),), n) for s in (0, 1)]


KINDS: dict[str, Callable] = {"input": input_halves, "neuron": neuron_splits}


def ranked(kind: str, p: Problem, n: Node, neurons: int) -> list[tuple[float, str, list[Node]]]:
    """The splits of ``kind`` as (bound of the worse child, name, children), best first."""
    return sorted(((max(c.bound for c in kids), name, kids)
                   for name, kids in KINDS[kind](p, n, neurons)), key=lambda t: t[0])


def text(choice: tuple[float, str, list[Node]]) -> str:
    w, name, kids = choice
    return f"{name} {w:.4f} {tuple(c.binaries for c in kids)}"


def quarters(p: Problem, n: Node, d: int, e: int) -> str:
    """The four quarters of the box halved along ``d`` and then ``e`` (the same input or two)."""
    kids = [bounded(p, halved(halved(n.domain, d, a), e, b), n.splits, n)
            for a in (0, 1) for b in (0, 1)]
    return text((max(c.bound for c in kids), f"x{d}, x{e}", kids))


def path(p: Problem, depth: int, neurons: int) -> None:
    """Both kinds at each node of the path that follows the best neuron split's worse child."""
    n = bounded(p, p.domain, (), None)
    for level in range(depth + 1):
        t0 = time.process_time()
        halves, neuron = ranked("input", p, n, neurons), ranked("neuron", p, n, neurons)[0]
        print(f"  depth {level}: node {n.bound:.4f} ({n.binaries})  input half "
              f"{text(halves[0])}  neuron {text(neuron)}  [{time.process_time() - t0:.1f} CPU s]",
              flush=True)
        if level == 0:
            d, e = (int(h[1][1:]) for h in halves[:2])
            print(f"    quarters {quarters(p, n, d, d)}; {quarters(p, n, d, e)}")
        n = max(neuron[2], key=lambda c: c.bound)


def tree(p: Problem, kind: str, expansions: int, neurons: int) -> None:
    """Best-first search splitting by ``kind`` only: the global bound after each expansion."""
    t0 = time.process_time()
    heap, out = [(0.0, 0, bounded(p, p.domain, (), None))], []
    for step in range(expansions):
        n = heapq.heappop(heap)[2]
        for side, c in enumerate(ranked(kind, p, n, neurons)[0][2]):
            heapq.heappush(heap, (-c.bound, 2 * step + side + 1, c))
        out.append(f"{-heap[0][0]:.4f}")
    print(f"  {kind} splits only: {' '.join(out)}  (largest open node: "
          f"{max(e[2].binaries for e in heap)} binaries) [{time.process_time() - t0:.0f} CPU s]",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=["C-cube", "A-0.15", "A-0.2"])
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--neurons", type=int, default=6)
    ap.add_argument("--tree", type=int, default=0, help="also best-first trees of this many "
                    "expansions, one per split kind")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for inst in suite(Path(tmp)):
            if inst["name"] in args.only:
                print(inst["name"])
                question = ask(Domain(inst["lo"], inst["hi"]), "0-1", "linf", None)
                p, _ = entry.compile(inst["path"], question, normalize=True)
                path(p, args.depth, args.neurons)
                for kind in KINDS if args.tree else ():
                    tree(p, kind, args.tree, args.neurons)


if __name__ == "__main__":
    main()
