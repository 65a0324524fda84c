"""The primal side's certified lower bound: this tree's ``search`` against a baseline revision's.

    python benchmarks/primal.py                                  # every instance, against main
    python benchmarks/primal.py --only B-0.1 C-cube --baseline 76e06cb --exact-limit 0

Instances: benchmarks/bab.py's suite (random [10, 20, 30, 20, 2] nets A, B on l_inf balls,
net C on the unit cube, the shipped example, the 784-256-256-10 net mnist256x2-0.03), a random
784-256-256-10 net on an l_inf box of radius 0.03 around a random point of [0, 1]^784 (clipped),
and small random nets whose exact constant comes from the brute-force oracle (tests/oracle.py).
l_inf input norm, the margin f0 - f1 (f8 - f3 on mnist256x2-0.03).

Per instance, in one process one after the other (the cores are shared: compare within a row,
and the CPU seconds more than the wall): the baseline's ``search`` (lipc/verify/walk.py and
primal.py as of ``--baseline``, loaded from git), this tree's without the flip walk (sampling
and climbing only) and with it, each with its defaults: the certified lower bound (in the
model's units), wall and CPU seconds.  This tree's search runs twice: "same" says whether both
runs gave the same value and point (it counts work, not seconds), "capped" whether its
wall-clock safety cap cut it short.  The exact value comes from the oracle, or from ``lipc
solve`` with HiGHS within ``--exact-limit`` seconds (0: skipped; 30 s on the 784-input nets:
its interval when not proved).
"""
from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Callable

import numpy as np

import lipc
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from lipc.question.domain import Domain
from lipc.solvers import SolveOptions
from lipc.verify.primal import search
from lipc.verify.walk import open_gates

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from bab import suite  # noqa: E402
from oracle import lipschitz  # noqa: E402

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


def baseline(rev: str) -> Callable:
    """``search`` as of git revision ``rev``: its walk.py and primal.py executed as modules of
    their own (relative imports pointed at this tree's lipc, which must still provide them)."""
    for name in ("walk", "primal"):
        src = subprocess.run(["git", "-C", str(HERE.parent), "show",
                              f"{rev}:lipc/verify/{name}.py"],
                             capture_output=True, text=True, check=True).stdout
        src = re.sub(r"from \.(walk|primal) import", r"from baseline_\1 import", src)
        src = re.sub(r"from \.(\w+) import", r"from lipc.verify.\1 import", src)
        src = src.replace("from ..", "from lipc.")
        mod = types.ModuleType(f"baseline_{name}")
        sys.modules[mod.__name__] = mod
        exec(compile(src, f"{rev}:lipc/verify/{name}.py", "exec"), mod.__dict__)
    return sys.modules["baseline_primal"].search


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def timed(p, low, fn: Callable, **kw) -> tuple:
    """(search result, its value in the model's units, wall seconds, CPU seconds)."""
    t0, c0 = time.perf_counter(), _cpu()
    r = fn(p, low, **kw)
    value = None if r.value is None else float(np.ldexp(r.value, p.scale_exp))
    return r, value, time.perf_counter() - t0, _cpu() - c0


def primal_row(inst: dict, base: Callable) -> dict:
    p, low = lipc.compile(inst["path"], Domain(inst["lo"], inst["hi"]),
                          output=inst.get("output", "0-1"), input_norm="linf", normalize=True)
    row = dict(instance=inst["name"], unstable=sum(i.size for i in open_gates(p).values()))
    runs = {}
    for key, fn, kw in (("base", base, {}), ("climb", search, dict(flip_walk=False)),
                        ("new", search, {}), ("again", search, {})):
        runs[key], row[key], row[key + "_s"], row[key + "_cpu"] = timed(p, low, fn, **kw)
    new, again = runs["new"], runs["again"]
    row["same"] = (new.value, new.witness and new.witness.x) == (again.value,
                                                               again.witness and again.witness.x)
    row["capped"] = new.stats["capped"] or again.stats["capped"]
    return row


def exact_of(inst: dict, limit: float) -> str:
    if "exact" in inst:
        return f"{inst['exact']:.6g} (oracle)"
    if limit <= 0:
        return "-"
    limit = inst.get("limit", limit)
    t0 = time.perf_counter()
    res = lipc.solve(inst["path"], Domain(inst["lo"], inst["hi"]),
                     output=inst.get("output", "0-1"), input_norm="linf",
                     options=SolveOptions(solver="highs", time_limit=limit))
    took = time.perf_counter() - t0
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
    ap.add_argument("--baseline", default="main", help="git revision to compare against")
    ap.add_argument("--exact-limit", type=float, default=120.0)
    args = ap.parse_args()
    base = baseline(args.baseline)
    tmp = Path(tempfile.mkdtemp())
    insts = [i for i in suite(tmp) + extra(tmp) if not args.only or i["name"] in args.only]
    print(f"| instance | unstable | {args.baseline} | climb only | this tree | new/base "
          "| same | capped | exact |")
    print("|---|---|---|---|---|---|---|---|---|")
    for inst in insts:
        row = primal_row(inst, base)
        o, n = row["base"], row["new"]
        ratio = "-" if not o or n is None else f"{n / o:.4f}"
        cells = [f"{_v(row[k])} ({row[k + '_s']:.2f} s, {row[k + '_cpu']:.2f} cpu)"
                 for k in ("base", "climb", "new")]
        print(f"| {row['instance']} | {row['unstable']} | " + " | ".join(cells)
              + f" | {ratio} | {row['same']} | {row['capped']} "
              f"| {exact_of(inst, args.exact_limit)} |", flush=True)


if __name__ == "__main__":
    main()
