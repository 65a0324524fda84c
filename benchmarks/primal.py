"""The primal side's certified lower bound without and with the flip walk, at 1 s and 5 s.

    python benchmarks/primal.py                          # every instance
    python benchmarks/primal.py --only A-0.1 C-cube --exact-limit 60

Instances: benchmarks/bab.py's suite (random [10, 20, 30, 20, 2] nets A, B on l_inf balls,
net C on the unit cube, the shipped example), a random 784-256-256-10 net on an l_inf box of
radius 0.03 around a random point of [0, 1]^784 (clipped), and small random nets whose exact
constant comes from the brute-force oracle (tests/oracle.py).  Output: the margin f0 - f1,
l_inf input norm.  Per instance, in one process one after the other (the cores are shared:
compare within a row): the certified lower bound of ``search`` without the walk (old) and with
it (new) at budgets 1 s and 5 s, the seconds each took, and the exact value (oracle; or
``lipc solve`` with HiGHS within ``--exact-limit`` seconds, 30 s on the 784-input net: its
interval when not proved), and the certified lower bound that solve's primal side reported
with the seconds it took.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import lipc
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from lipc.question.domain import Domain
from lipc.solvers import SolveOptions
from lipc.verify.primal import search

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from bab import suite  # noqa: E402
from oracle import lipschitz  # noqa: E402

BUDGETS = (1.0, 5.0)
SMALL = [(6, [3, 8, 8, 2]), (9, [3, 8, 8, 2]), (2, [3, 8, 8, 2])]   # as tests/test_primal_walk.py


def extra(tmp: Path) -> list[dict]:
    """The 784-input net and the oracle-sized nets."""
    rng = np.random.default_rng(784)
    Ws, bs = random_mlp(rng, [784, 256, 256, 10])
    x0 = rng.uniform(0, 1, 784)
    out = [dict(name="784-256-256-10", path=save_mlp(tmp / "mnist.onnx", Ws, bs),
                lo=np.clip(x0 - 0.03, 0, 1), hi=np.clip(x0 + 0.03, 0, 1), limit=30.0)]
    for seed, sizes in SMALL:
        Ws, bs = random_mlp(np.random.default_rng(seed), sizes)
        d = sizes[0]
        lo, hi = -np.ones(d), np.ones(d)
        c = np.zeros(sizes[-1])
        c[0], c[1] = 1.0, -1.0
        exact = lipschitz(Ws, bs, lo, hi, c=c, alpha="inf")
        out.append(dict(name=f"small-{seed}-{'x'.join(map(str, sizes))}",
                        path=save_mlp(tmp / f"s{seed}.onnx", Ws, bs), lo=lo, hi=hi,
                        exact=float(exact.value if hasattr(exact, "value") else exact)))
    return out


def primal_row(inst: dict) -> dict:
    p, low = lipc.compile(inst["path"], Domain(inst["lo"], inst["hi"]), output="0-1",
                          input_norm="linf", normalize=True)
    row = dict(instance=inst["name"], unstable=int(sum(
        int(np.sum(p.graph.bounds[n].lo != p.graph.bounds[n].hi)) for n in p.graph.nodes()
        if type(p.graph.op(n)).__name__ == "Conditional" and p.graph.stage(n) == "forward")))
    for walk in (False, True):
        for s in BUDGETS:
            r = search(p, low, seconds=s, flip_walk=walk)
            key = f"{'new' if walk else 'old'}@{s:g}"
            row[key] = None if r.value is None else float(np.ldexp(r.value, p.scale_exp))
            row[key + "_s"] = r.seconds
    return row


def exact_of(inst: dict, limit: float) -> str:
    if "exact" in inst:
        return f"{inst['exact']:.6g} (oracle)"
    limit = inst.get("limit", limit)
    t0 = time.perf_counter()
    res = lipc.solve(inst["path"], Domain(inst["lo"], inst["hi"]), output="0-1",
                     input_norm="linf", options=SolveOptions(solver="highs", time_limit=limit))
    took = time.perf_counter() - t0
    primal = res.stats.get("primal", {})
    inst["first_lower"] = (primal.get("value"), primal.get("seconds"))
    if res.status == "optimal":
        return f"{res.value:.6g} ({took:.0f} s)"
    lo = "-" if res.lower is None else f"{res.lower:.6g}"
    hi = "-" if res.upper is None else f"{res.upper:.6g}"
    return f"[{lo}, {hi}] ({res.status}, {took:.0f} s)"


def _v(x) -> str:
    return "-" if x is None else f"{x:.6g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--exact-limit", type=float, default=120.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    insts = [i for i in suite(tmp) + extra(tmp) if not args.only or i["name"] in args.only]
    print("| instance | unstable | old 1 s | old 5 s | new 1 s | new 5 s | new/old 5 s "
          "| exact | solve's primal (value, s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for inst in insts:
        row = primal_row(inst)
        ex = exact_of(inst, args.exact_limit)
        o, n = row["old@5"], row["new@5"]
        ratio = "-" if not o or n is None else f"{n / o:.4f}"
        fl = inst.get("first_lower")
        first = "-" if fl is None else f"{_v(fl[0])}, {fl[1]:.2f}"
        cells = [f"{_v(row[k])} ({row[k + '_s']:.2f} s)" for k in
                 ("old@1", "old@5", "new@1", "new@5")]
        print(f"| {row['instance']} | {row['unstable']} | " + " | ".join(cells)
              + f" | {ratio} | {ex} | {first} |", flush=True)


if __name__ == "__main__":
    main()
