"""Build a benchmark library with 1 and with 2 local workers in the same run and compare.

Prints one table: the wall time of ``lipc bench build`` for each worker count (and their ratio,
measured in the same run because the machine is shared), whether the two libraries are
byte-identical, the library's easy/hard/open counts, and per instance its size, status and the
time of the exact rational re-check of its reference solution (lipc.studies.bench.exact_check).

    python benchmarks/library_build.py [benchmarks/libraries/lipmip-mini.toml] [-t 120]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from lipc.studies.bench.build import build
from lipc.util.workers import Parallelism

HERE = Path(__file__).resolve().parent


def _library(d: Path) -> dict[str, bytes]:
    return {str(f.relative_to(d)): f.read_bytes() for f in sorted(d.rglob("*"))
            if f.is_file() and "results" not in f.relative_to(d).parts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest", nargs="?", default=str(HERE / "libraries" / "lipmip-mini.toml"))
    ap.add_argument("--time-limit", "-t", type=float, default=120.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times, reports = {}, {}
        for workers in (1, 2):
            out = Path(tmp) / f"w{workers}"
            t0 = time.perf_counter()
            reports[workers] = build(args.manifest, out, Parallelism(workers=workers),
                                     time_limit=args.time_limit)
            times[workers] = time.perf_counter() - t0
        same = _library(Path(tmp) / "w1") == _library(Path(tmp) / "w2")
        recs = reports[1].results
        status = Counter(r["status"] for r in recs)
        print(f"| workers | wall time (s) |\n|---|---|\n| 1 | {times[1]:.1f} |\n"
              f"| 2 | {times[2]:.1f} |\n\nspeed-up 2 vs 1 worker: {times[1] / times[2]:.2f}x; "
              f"libraries byte-identical: {same}; {len(recs)} instances: "
              f"{status.get('easy', 0)} easy, {status.get('hard', 0)} hard, "
              f"{status.get('open', 0)} open\n")
        print("| instance | rows | columns | binaries | nonzeros | big-M range | status | .solu "
              "| solve (s) | exact check (s) | max violation |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        lib = Path(tmp) / "w1"
        for r in recs:
            check = "" if r.get("check_seconds") is None else f"{r['check_seconds']:.2f}"
            viol = "" if r["check_violation"] is None else f"{r['check_violation']:.1e}"
            solu = f"={r['solu']}= " + ("" if r["file_value"] is None else f"{r['file_value']:.6g}")
            print(f"| {r['name']} | {r['rows']} | {r['columns']} | {r['binaries']} "
                  f"| {r['nonzeros']} | [{r['min_big_m']:.3g}, {r['max_big_m']:.3g}] "
                  f"| {r['status']} | {solu} | {r['seconds']:.1f} | {check} | {viol} |")

if __name__ == "__main__":
    main()
