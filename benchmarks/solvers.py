"""Time to optimality of each usable MIP solver (open, and commercial under whatever licence is
installed, e.g. the size-limited ones of the pip packages) on the same Lipschitz MIPs.

    python benchmarks/solvers.py                       # 6 instances x installed solvers, 120 s each
    python benchmarks/solvers.py --time-limit 30 --solvers cbc,highs --only A-0.05
    python benchmarks/solvers.py --race                # also time --solver race

Instances (seeded, nothing downloaded): the paper's synthetic shape [10, 20, 30, 20, 2] with
PyTorch's default initialisation, l_inf-local Lipschitz constant of the margin f0 - f1 on l_inf
balls of radius 0.05 and 0.1:

* ``A``, ``B``: the random networks and centres of benchmarks/run.py (network seeds 1 and 2,
  centres U[0,1]^10 from seed 100 + ord(key));
* ``mlp``: examples/mlp_10_20_30_20_2.onnx (exported from PyTorch) around examples/x0_10.npy;
* ``clf-0.1``: the shipped examples/classifier_4_16_16_3.onnx around examples/x0_4.npy, radius
  0.1 (small enough for every size-limited commercial licence);
* with ``--hard``: A at radius 0.15 and 0.2, B at 0.2, network C (seed 3) on the unit cube.

``--formulation paper`` compiles the original LipMIP encodings with interval bounds (the models
of ../shared/notes/anchor-measurements.md); the default is lipc's formulation and bounds.

Each instance is compiled once with lipc's defaults and the same flat MIP is solved by every
solver in turn through lipc.solve (one thread, the same time limit, lipc's default tolerances
1e-9, no retries), so the value is the verified one.  Printed: a markdown table with time, nodes,
value (or the interval at the limit), status and the time relative to CBC in the same run; then
the geometric-mean ratio per solver and the order ``--solver auto`` uses.  A commercial solver
whose licence cannot take an instance gets a row ``over licence`` with the limit and the size.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import lipc                                        # noqa: E402
from lipc.compiler.pipeline import CompileOptions  # noqa: E402
from lipc.question.domain import Domain             # noqa: E402
from lipc.errors import SolverError                 # noqa: E402
from lipc.solvers import REGISTRY, SolveOptions, auto_order   # noqa: E402
from lipc.frontends.onnx.writer import random_mlp, save_mlp            # noqa: E402

RADII = (0.05, 0.1)


def instances(tmp: Path, hard: bool = False) -> list[dict]:
    out = []
    for key, seed in (("A", 1), ("B", 2), ("C", 3)):
        Ws, bs = random_mlp(np.random.default_rng(seed), [10, 20, 30, 20, 2])
        path = save_mlp(tmp / f"{key}.onnx", Ws, bs)
        centre = np.random.default_rng(100 + ord(key)).uniform(0, 1, 10)
        if key == "C" and not hard:
            continue
        radii = {"A": (0.15, 0.2), "B": (0.2,), "C": ()}[key] if hard else RADII
        out += [dict(name=f"{key}-{r}", lo=centre - r, hi=centre + r, path=path) for r in radii]
        if key == "C" and hard:
            out.append(dict(name="C-cube", lo=np.zeros(10), hi=np.ones(10), path=path))
    if not hard:
        centre = np.load(ROOT / "examples" / "x0_10.npy")
        out += [dict(name=f"mlp-{r}", path=ROOT / "examples" / "mlp_10_20_30_20_2.onnx",
                     lo=centre - r, hi=centre + r) for r in RADII]
        x0 = np.load(ROOT / "examples" / "x0_4.npy")
        out.append(dict(name="clf-0.1", path=ROOT / "examples" / "classifier_4_16_16_3.onnx",
                        lo=x0 - 0.1, hi=x0 + 0.1))
    return out


def run(inst: dict, solver: str, time_limit: float, copts: CompileOptions) -> dict:
    t = time.perf_counter()
    try:
        res = lipc.solve(inst["path"], Domain(inst["lo"], inst["hi"]), output="0-1",
                         input_norm="linf",
                         options=SolveOptions(solver=solver, time_limit=time_limit, threads=1,
                                      retry=False), compile_options=copts)
    except SolverError as exc:                 # e.g. a size-limited licence refuses the model
        why = str(exc).split(": ", 1)[-1].split(". Use")[0]
        return dict(solver=solver, status=f"over licence ({why})", seconds=None, wall=None,
                    nodes=None, value=None, lower=None, upper=None, binaries="-", rows="-")
    return dict(solver=res.solver if solver != "race" else f"race→{res.solver}",
                status=res.status, seconds=res.seconds, wall=time.perf_counter() - t,
                nodes=res.nodes, value=res.value, lower=res.lower, upper=res.upper,
                binaries=res.stats["binaries"], rows=res.stats["rows"])


def _num(v, fmt="{:.10g}"):
    return "-" if v is None else fmt.format(v)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--solvers", default=None,
                    help="comma list (default: every usable solver)")
    ap.add_argument("--only", nargs="*", default=None, help="instance names, e.g. A-0.05")
    ap.add_argument("--race", action="store_true", help="also time --solver race")
    ap.add_argument("--formulation", default="lipc",
                    help="lipc (default, with lipc's default bounds) or paper (the original "
                         "LipMIP encodings and interval bounds, as in the anchor measurements)")
    ap.add_argument("--hard", action="store_true",
                    help="instead: A-0.15, A-0.2, B-0.2 and C on the unit cube")
    args = ap.parse_args(argv)
    copts = CompileOptions(formulation=args.formulation,
                           bounds="interval" if args.formulation == "paper" else "auto")
    solvers = (args.solvers.split(",") if args.solvers else
               [n for n in ("cbc", "highs", "scip", "gurobi", "cplex", "xpress")
                if REGISTRY[n].usable()])
    if "cbc" in solvers:                       # CBC first: the reference of every ratio
        solvers = ["cbc"] + [s for s in solvers if s != "cbc"]
    if args.race:
        solvers.append("race")
    rows, ratios = [], {s: [] for s in solvers}
    print(f"| instance | binaries | rows | solver | time (s) | nodes | value / interval | status "
          f"| time / CBC |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for inst in instances(Path(tmp), args.hard):
            if args.only and inst["name"] not in args.only:
                continue
            base = None
            for s in solvers:
                r = run(inst, s, args.time_limit, copts)
                rows.append((inst["name"], r))
                done = r["status"] == "optimal"
                if s == "cbc":
                    base = r
                ratio = "-"
                if base is not None and s != "cbc":
                    if done and base["status"] == "optimal":
                        q = r["seconds"] / base["seconds"]
                        ratios[s].append(q)
                        ratio = f"{q:.2f}"
                    elif done:
                        ratio = f"< {r['seconds'] / base['seconds']:.2f}"
                refused = r["seconds"] is None
                value = ("-" if refused else _num(r["value"]) if r["value"] is not None else
                         f"[{_num(r['lower'])}, {_num(r['upper'])}]")
                secs = ("-" if refused else f"{r['seconds']:.2f}" if done
                        else f"> {args.time_limit:g}")
                print(f"| {inst['name']} | {r['binaries']} | {r['rows']} | {r['solver']} | "
                      f"{secs} | {_num(r['nodes'], '{}')} | {value} | {r['status']} | {ratio} |",
                      flush=True)
    print()
    for s, q in ratios.items():
        if q:
            g = math.exp(sum(map(math.log, q)) / len(q))
            print(f"{s}: geometric mean of time / CBC over {len(q)} instances solved by both: "
                  f"{g:.2f}")
    print(f"--solver auto order here: {', '.join(auto_order())} (auto = {auto_order()[0]})")
    vals = {}
    for name, r in rows:
        if r["value"] is not None:
            vals.setdefault(name, []).append(r["value"])
    worst = max((max(v) - min(v)) / max(abs(max(v)), 1e-12) for v in vals.values()) if vals else 0
    print(f"largest relative spread of the verified values between solvers: {worst:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
