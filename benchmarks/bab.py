"""The single MIP (today's path) against branch and bound (``--engine bab``), 1 and 2 workers.

    python benchmarks/bab.py                       # every instance, 60 s each run
    python benchmarks/bab.py --only A-0.1 C-cube --time-limit 120 --at 10
    python benchmarks/bab.py --only A-0.15 A-0.2 --engines bab-1 bab-2 --repeat 6

Instances (seeded, regenerated, as in benchmarks/run.py): random [10, 20, 30, 20, 2] networks
with PyTorch's default initialisation (nets A, B) on l_inf balls of radius 0.1 / 0.15 / 0.2
around random centres in [0, 1]^10, net C on the unit cube [0, 1]^10, net T of the same shape
trained (lipc.studies.training, the paper's random-cluster set) on balls of radius 0.1 / 0.15 and
the unit cube, a digits-like [64, 20, 20, 20, 2] net trained on 64-dimensional clusters on the
l_inf ball of radius 0.1 around a training point (clipped to [0, 1]), and the shipped
examples/mlp_10_20_30_20_2.onnx on the l_inf ball of radius 0.1 around examples/x0_10.npy,
and an MNIST-size 784-256-256-10 net (PyTorch initialisation) on the VNN-COMP-size box of
radius 0.03 around a random point of [0, 1]^784, clipped to [0, 1] (mnist256x2-0.03, margin
f8 - f3); the l_inf-local Lipschitz constant of the margin f0 - f1 elsewhere.  Every engine runs in the same
process one after the other (the machine is shared: compare ratios within a row), HiGHS, one
thread per worker.  Printed per instance and engine: status, time to proof (or the limit),
nodes, the interval at the limit (and at ``--at`` seconds, by a separate short run), and the
speed-up against the single MIP; at the end the geometric mean over instances the MIP needs
>= 10 s for.  For branch and bound also its batches, the 2-worker speed-up they allow by the
nodes' CPU seconds (``ideal 2``; ``est 2`` with the driver's serial CPU time: read them off
bab-1 on a loaded machine) and the overhead per
batch (wall time of a batch beyond its nodes' span on the run's workers; the primal side
running alongside the first batch with 2 workers counts where it outlasts it), and bab-1/bab-2.
``--node-limit`` makes 1 and 2 workers explore the same nodes when the time limit would cut
them at different places.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import lipc
from lipc.bab.driver import BabOptions
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from lipc.question.domain import Domain
from lipc.solvers import SolveOptions
from lipc.studies.training import synthetic_clusters, train_mlp

ROOT = Path(__file__).resolve().parents[1]

# engine -> (lipc engine, local workers); bab-dask: a local Dask cluster of 2 one-thread workers;
# auto: lipc.bab.auto (both engines measured for a probe each, the better one goes on)
ENGINES = {"mip": ("mip", None), "bab-1": ("bab", 1), "bab-2": ("bab", 2),
           "bab-dask": ("bab", "dask"), "auto": ("auto", 1)}


def suite(tmp: Path) -> list[dict]:
    inst = []
    for key, seed, radii in (("A", 1, [0.1, 0.15, 0.2]), ("B", 2, [0.1, 0.15]), ("C", 3, [])):
        Ws, bs = random_mlp(np.random.default_rng(seed), [10, 20, 30, 20, 2])
        path = save_mlp(tmp / f"{key}.onnx", Ws, bs)
        centre = np.random.default_rng(100 + ord(key)).uniform(0, 1, 10)
        for r in radii:
            inst.append(dict(name=f"{key}-{r}", path=path, lo=centre - r, hi=centre + r))
        if key == "C":
            inst.append(dict(name="C-cube", path=path, lo=np.zeros(10), hi=np.ones(10)))
    X, y = synthetic_clusters(5, n=300, dim=10, k=10)
    Ws, bs = train_mlp(X, y, [10, 20, 30, 20, 2], seed=5)
    path = save_mlp(tmp / "T.onnx", Ws, bs)
    for r in (0.1, 0.15):
        inst.append(dict(name=f"T-{r}", path=path, lo=X[0] - r, hi=X[0] + r))
    inst.append(dict(name="T-cube", path=path, lo=np.zeros(10), hi=np.ones(10)))
    X, y = synthetic_clusters(6, n=300, dim=64, k=10)
    Ws, bs = train_mlp(X, y, [64, 20, 20, 20, 2], seed=6)
    inst.append(dict(name="digits64-0.1", path=save_mlp(tmp / "digits64.onnx", Ws, bs),
                     lo=np.clip(X[0] - 0.1, 0, 1), hi=np.clip(X[0] + 0.1, 0, 1)))
    x0 = np.load(ROOT / "examples" / "x0_10.npy")
    inst.append(dict(name="example-0.1", path=ROOT / "examples" / "mlp_10_20_30_20_2.onnx",
                     lo=x0 - 0.1, hi=x0 + 0.1))
    Ws, bs = random_mlp(np.random.default_rng(4), [784, 256, 256, 10])
    x = np.random.default_rng(104).uniform(0, 1, 784)
    inst.append(dict(name="mnist256x2-0.03", path=save_mlp(tmp / "mnist256x2.onnx", Ws, bs),
                     lo=np.clip(x - 0.03, 0, 1), hi=np.clip(x + 0.03, 0, 1), output="8-3"))
    return inst


def run_one(inst: dict, engine: str, limit: float, node_limit: int | None = None,
            scheduler: str | None = None) -> dict:
    kind, workers = ENGINES[engine]
    settings = (BabOptions(scheduler=scheduler, node_limit=node_limit) if workers == "dask"
                else BabOptions(workers=workers or 1, node_limit=node_limit))
    opts = SolveOptions(solver="highs", time_limit=limit)
    t0, c0 = time.perf_counter(), _cpu()
    res = lipc.solve(inst["path"], Domain(inst["lo"], inst["hi"]),
                     output=inst.get("output", "0-1"), input_norm="linf", options=opts,
                     engine=kind, bab=settings)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    bab = res.stats.get("bab")
    nodes = bab["nodes"] if bab else res.nodes
    return dict(instance=inst["name"], engine=engine, status=res.status, seconds=seconds,
                cpu=cpu, nodes=nodes, lower=res.lower, upper=res.upper,
                **(_batches(bab, workers, cpu) if bab else {}))


def _batches(bab: dict, workers: int, cpu: float) -> dict:
    """What the batches allow, from each node's CPU seconds (robust to the machine's load):
    ``ideal_2`` the 2-worker speed-up of the batches alone, ``est_2`` of the whole run with
    the driver's serial part (compile, primal side, certifying, merging: the CPU time outside
    the nodes) added, from a 1-worker run (all of it in this process), and the ``overhead``
    per batch: the batches' wall time beyond the nodes' span on this run's workers (starting
    processes, pickling, waiting for a loaded core)."""
    # one worker: the primal side runs before the first node; two: alongside it, so only
    # what it takes beyond the first batch shows as overhead
    span = (bab["node_seconds"] + bab["primal_seconds"] if workers == 1
            else bab["span_2_workers"])
    serial = cpu - bab["node_cpu"]
    return dict(ideal_2=bab["node_cpu"] / max(bab["span_2_cpu"], 1e-9),
                est_2=cpu / (serial + bab["span_2_cpu"]) if workers == 1 else None,
                overhead=(bab["round_seconds"] - span) / max(bab["batches"], 1),
                batches=bab["batches"])


def _cpu() -> float:
    """CPU seconds of this process and its finished worker processes: on a shared machine the
    wall clock of one run depends on the others' load, its CPU time much less."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextlib.contextmanager
def _cluster(wanted: bool):
    """A local Dask cluster of two one-thread worker processes (its address), or None.  Its
    workers' CPU time is not in the ``cpu s`` column (they are not this process's children)."""
    if not wanted:
        yield None
        return
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _runs(engines: list[str], repeat: int) -> list[str]:
    """The engines ``repeat`` times, every other round in reverse order (a drift of the
    machine's speed then does not favour one engine)."""
    return [e for k in range(repeat) for e in (engines if k % 2 == 0 else engines[::-1])]


def _median(rows: list[dict], engine: str) -> float | None:
    """Median wall seconds of an engine's proved runs among ``rows`` (None: none proved)."""
    secs = [r["seconds"] for r in rows if r["engine"] == engine and r["status"] == "optimal"]
    return statistics.median(secs) if secs else None


def _medians(rows: list[dict]) -> list[dict]:
    """One row per (instance, engine): the first, with the median seconds of the proved runs
    and the speed-up against the MIP's median."""
    out = {}
    for r in rows:
        out.setdefault((r["instance"], r["engine"]), dict(r))
    for (inst, engine), r in out.items():
        same = [q for q in rows if q["instance"] == inst]
        r["seconds"] = _median(same, engine) or r["seconds"]
        base = _median(same, "mip")
        r["speedup"] = base / r["seconds"] if base and _median(same, engine) else None
    return list(out.values())


def _cell(r: dict, key: str, fmt: str) -> str:
    return "-" if r.get(key) is None else format(r[key], fmt)


def _interval(r: dict) -> str:
    lo = "-" if r["lower"] is None else f"{r['lower']:.6g}"
    hi = "-" if r["upper"] is None else f"{r['upper']:.6g}"
    gap = ("" if r["lower"] is None or r["upper"] is None or r["upper"] <= 0
           else f" gap {(r['upper'] - r['lower']) / r['upper']:.1%}")
    return f"[{lo}, {hi}]{gap}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--engines", nargs="*", default=list(ENGINES), choices=list(ENGINES))
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--at", type=float, default=None, help="also the interval after S seconds")
    ap.add_argument("--node-limit", type=int, default=None,
                    help="stop branch and bound after N nodes (bab-1 and bab-2 then explore the "
                         "same nodes: their times compare even when the time limit is hit)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each engine N times, alternating the order; medians are compared")
    ap.add_argument("--json", default=None, help="write every row to this file")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, _cluster("bab-dask" in args.engines) as sched:
        for inst in suite(Path(tmp)):
            if args.only and inst["name"] not in args.only:
                continue
            print(f"\n{inst['name']}")
            print(f"  {'engine':8} {'status':11} {'seconds':>8} {'cpu s':>7} {'nodes':>7} "
                  f"{'batches':>7} {'ideal 2':>7} {'est 2':>5} {'ovh/batch':>9}  interval"
                  + ("  (at --at)" if args.at else "") + "  speed-up")
            base = None
            for engine in _runs(args.engines, args.repeat):
                r = run_one(inst, engine, args.time_limit, args.node_limit, sched)
                if args.at:
                    r["at"] = _interval(run_one(inst, engine, args.at, args.node_limit, sched))
                if engine == "mip":
                    base = r
                speed = (base["seconds"] / r["seconds"]
                         if base and r["status"] == "optimal" else None)
                r["speedup"] = speed
                rows.append(r)
                print(f"  {engine:8} {r['status']:11} {r['seconds']:8.1f} {r['cpu']:7.1f} "
                      f"{str(r['nodes']):>7} {_cell(r, 'batches', 'd'):>7} "
                      f"{_cell(r, 'ideal_2', '.2f'):>7} {_cell(r, 'est_2', '.2f'):>5} "
                      f"{_cell(r, 'overhead', '.3f'):>9}  "
                      f"{_interval(r)}" + (f"  {r['at']}" if args.at else "")
                      + (f"  {speed:.2f}x" if speed else ""), flush=True)
            mine = [r for r in rows if r["instance"] == inst["name"]]
            if args.repeat > 1:
                for engine in args.engines:
                    secs = [r["seconds"] for r in mine if r["engine"] == engine]
                    print(f"  {engine:8} median {statistics.median(secs):.2f} s of "
                          f"{len(secs)} (range {min(secs):.2f}-{max(secs):.2f})")
            one, two = (_median(mine, e) for e in ("bab-1", "bab-2"))
            if one and two:
                nodes = {r["nodes"] for r in mine if r["engine"] in ("bab-1", "bab-2")}
                print(f"  bab-1/bab-2 wall {one / two:.2f}x, nodes "
                      f"{'equal' if len(nodes) == 1 else 'DIFFER'}", flush=True)
    rows = _medians(rows)
    for engine in args.engines[1:]:
        hard = [r["speedup"] or 0.0 for r in rows if r["engine"] == engine and any(
            b["engine"] == "mip" and b["instance"] == r["instance"] and b["seconds"] >= 10
            for b in rows)]
        ok = [s for s in hard if s > 0]
        if ok:
            print(f"{engine}: geometric-mean speed-up on instances the MIP needs >= 10 s for: "
                  f"{statistics.geometric_mean(ok):.2f}x over {len(ok)} of {len(hard)}")
    for engine in ("bab-2", "bab-dask"):
        pairs = [(a["seconds"], b["seconds"]) for a in rows for b in rows
                 if a["engine"] == "bab-1" and b["engine"] == engine
                 and a["instance"] == b["instance"] and a["status"] == b["status"] == "optimal"]
        if pairs:
            print(f"{engine} against bab-1 (wall, instances both prove): geometric-mean "
                  f"{statistics.geometric_mean([a / b for a, b in pairs]):.2f}x over {len(pairs)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
