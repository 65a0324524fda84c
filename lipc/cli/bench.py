"""The ``lipc bench`` command (wired into lipc.cli's COMMANDS): build a benchmark library from a
manifest (lipc.studies.bench.build), or re-solve one (lipc.studies.bench.resolve)."""
from __future__ import annotations

import argparse
import json
import sys

from .argtypes import nonnegative_float, positive_int
from .flags import add_parallel_flags, parallelism, solver_flag, time_limit_flag
from ..util.stopping import exit_status
from ..errors import LipcError
from ..solvers import names as solver_names
from ..studies.bench.build import build
from ..studies.bench.resolve import resolve
from ..studies.bench.vnncomp import vnncomp_manifest

HELP = "build a MIPLIB-style benchmark library from a manifest, or re-solve one"


def add_flags(p: argparse.ArgumentParser) -> None:
    """The ``bench`` subcommands on the parser ``p`` (called by lipc.cli.parser)."""
    sub = p.add_subparsers(dest="bench_command", required=True)
    b = sub.add_parser("build", help="compile and solve every manifest instance")
    b.add_argument("manifest", nargs="?", help="TOML manifest (or --vnncomp DIR)")
    b.add_argument("--vnncomp", metavar="DIR",
                   help="a VNN-COMP benchmark folder (instances.csv rows onnx,vnnlib,timeout): "
                        "one instance per row, the property's input region as the domain")
    b.add_argument("-o", "--out", required=True, help="library directory")
    add_parallel_flags(b)
    time_limit_flag(b, "per instance solve, a safety stop: an instance it stops is tagged "
                    "not-reproducible and written as =unkn=", default=60.0)
    b.add_argument("--node-limit", type=positive_int, default=None,
                   help="branch-and-bound nodes per instance solve, the deterministic budget "
                        "behind open instances' =best= values (default: the manifest's "
                        "node_limit, else none)")
    solver_flag(b, what="solver for the reference solutions")
    b.add_argument("--easy-seconds", type=nonnegative_float, default=60.0,
                   help="solved within this many seconds: easy, else hard (default 60)")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    s = sub.add_parser("solve", help="re-solve a library and check it against its .solu file")
    s.add_argument("lib", help="library directory")
    # any back end of the registry (lipc.studies.bench.resolve: a missing package is an error)
    solver_flag(s, default="highs", choices=solver_names(), what="solver re-reading the files")
    time_limit_flag(s, "per instance")
    s.add_argument("--json", action="store_true", help="machine-readable result")


def cmd_bench(args) -> int:
    if args.bench_command == "build":
        if (args.manifest is None) == (args.vnncomp is None):
            raise LipcError("bench build takes a TOML manifest or --vnncomp DIR (one of them)")
        source = args.manifest if args.vnncomp is None else vnncomp_manifest(args.vnncomp)
        try:
            rep = build(source, args.out, parallelism(args), time_limit=args.time_limit,
                        solver=args.solver, easy_seconds=args.easy_seconds,
                        progress=None if args.quiet else sys.stderr,
                        node_limit=args.node_limit)
        except KeyboardInterrupt as exc:
            print("lipc: interrupted; finished instances are kept: run the same command again "
                  "to resume", file=sys.stderr)
            return exit_status(exc)
        if not args.quiet:
            for r in rep.results:
                tag = "skipped" if r["name"] in rep.skipped else "built"
                value = "" if r["file_value"] is None else f" {r['file_value']!r}"
                print(f"{r['name']:24} {tag:8} ={r['solu']}={value} "
                      f"({r['status']}, {r['binaries']} binaries)")
            print(f"library {rep.library} in {rep.out_dir}: {len(rep.built)} built, "
                  f"{len(rep.skipped)} skipped")
        return 0
    rep = resolve(args.lib, args.solver, args.time_limit)
    if args.json:
        print(json.dumps(rep.to_dict(), indent=2, default=float))
    else:
        for r in rep.rows:
            print(f"{r['name']:24} {'ok' if r['ok'] else 'MISMATCH':8} ={r['solu']}= "
                  f"expected {r['expected']} got {r['got']} ({r['status']}, "
                  f"{r['seconds']:.2f} s)")
        print(f"{rep.solver}: {sum(r['ok'] for r in rep.rows)}/{len(rep.rows)} match")
    return 0 if rep.ok else 1
