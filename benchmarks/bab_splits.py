"""Input-box halves against neuron splits, measured at the nodes of a branch-and-bound path.

    python benchmarks/bab_splits.py                          # C-cube, A-0.15, A-0.2
    python benchmarks/bab_splits.py --only A-0.15 --depth 4 --neurons 8

Why: LipBaB (Bhowmick et al. 2021) splits the input box instead of neurons; on a low-dimensional
box a half might stabilise first-layer neurons and tighten every bound downstream.  This measures
both kinds with the node bound lipc.bab uses (the smaller of the bound passes' objective bound
and the node's LP, each child compiled from its parent's bounds).  At the root, and then at the
worse child of the best neuron split down to ``--depth``: the worse child's bound and the
children's binaries of the best halving of each input (and, at the root, of the best two
quarterings: one input twice, the two best inputs once each) against the best of the
``--neurons`` unstable neurons with the largest relaxation area.  Instances: benchmarks/bab.py's.

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
twentieth when the weights are alike, and the node's LP keeps most of its relaxation.  So
lipc.bab splits neurons only.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from lipc.api import ask
from lipc.bab.node import (NodeLP, forward_unstable, inherited_bounds, node_problem,
                           objective_bound)
from lipc.compiler import entry
from lipc.compiler.pipeline import Problem, lower_problem
from lipc.question.domain import Domain

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bab import suite  # noqa: E402


def bound(p: Problem, dom: Domain, splits: tuple, inherited) -> tuple[float, int, Problem]:
    """A node's bound as lipc.bab.node bounds it, its binaries and its compiled problem."""
    q = node_problem(p.network, dom, p.query, splits, "auto", inherited)
    low = lower_problem(q)
    return min(objective_bound(q), NodeLP(low).value), int(low.mip.meta["binaries"]), q


def halved(dom: Domain, d: int, side: int) -> Domain:
    """The lower (side 0) or upper (side 1) half of the box along input ``d``."""
    lo, hi = dom.lo.copy(), dom.hi.copy()
    mid = lo[d] + (hi[d] - lo[d]) / 2
    (lo if side else hi)[d] = mid
    return replace(dom, lo=lo, hi=hi)


def worse(children: list[tuple]) -> tuple[float, list[int]]:
    return max(c[0] for c in children), [c[1] for c in children]


def measure(p: Problem, depth: int, neurons: int) -> None:
    dom, splits = p.domain, ()
    ub, nb, node = bound(p, dom, splits, None)
    for level in range(depth + 1):
        t0 = time.process_time()
        inh = inherited_bounds(node)
        halves = sorted(worse([bound(p, halved(dom, d, s), splits, inh) for s in (0, 1)]) + (d,)
                        for d in range(dom.dim))
        best = []
        for _, z, j, _ in forward_unstable(node)[:neurons]:
            kids = [bound(p, dom, splits + ((z, j, s),), inh) for s in (0, 1)]
            best.append(worse(kids) + (z, j, kids))
        best.sort(key=lambda r: r[0])
        (hb, hbin, d), (nbnd, nbin, z, j, kids) = halves[0], best[0]
        print(f"  depth {level}: node {ub:.4f} ({nb})  input half x{d} {hb:.4f} {tuple(hbin)}  "
              f"neuron {z}[{j}] {nbnd:.4f} {tuple(nbin)}  "
              f"[{time.process_time() - t0:.1f} CPU s]", flush=True)
        if level == 0:
            d2 = halves[1][2]
            for pair in ((d, d), (d, d2)):
                quarters = [bound(p, halved(halved(dom, pair[0], a), pair[1], b), splits, inh)
                            for a in (0, 1) for b in (0, 1)]
                qb, qbin = worse(quarters)
                print(f"    quarters x{pair[0]}, x{pair[1]}: {qb:.4f} {tuple(qbin)}")
        side = max((0, 1), key=lambda s: kids[s][0])
        splits += ((z, j, side),)
        ub, nb, node = kids[side]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=["C-cube", "A-0.15", "A-0.2"])
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--neurons", type=int, default=6)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for inst in suite(Path(tmp)):
            if inst["name"] in args.only:
                print(inst["name"])
                question = ask(Domain(inst["lo"], inst["hi"]), "0-1", "linf", None)
                p, _ = entry.compile(inst["path"], question, normalize=True)
                measure(p, args.depth, args.neurons)


if __name__ == "__main__":
    main()
