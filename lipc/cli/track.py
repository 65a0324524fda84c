"""The ``lipc track`` command (wired into lipc.cli's COMMANDS): checkpoints in, table and plot
out."""
from __future__ import annotations

import argparse
import json
import sys

from ..util.stopping import exit_status
from ..util.text import number_text
from .estimate import checked_samples, method_flags
from .flags import (add_parallel_flags, compile_flags, method_flag, parallelism, query_flags,
                    question_from_args, report_flags)
from ..studies.plot import check_destination, plot_track
from ..studies.track import Tracking, discover, track

HELP = ("Lipschitz constants through training: every checkpoint with LipMIP and estimators, "
        "as CSV/JSON and a plot (the LipMIP paper's Figure 1)")
DEFAULT_METHODS = "lipmip,fastlip,liplp,randomlb"


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                   help="ONNX files, folders of them, glob patterns, or a TOML manifest "
                        "([[checkpoint]] path, step, series); the step is the last number in a "
                        "file name, the series its folder")
    query_flags(p, domain_required=True)
    compile_flags(p)
    method_flag(p, default=DEFAULT_METHODS)
    method_flags(p)
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="results folder: track.csv, track.json and rows/ (resumable)")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help="also draw value against step (.png, .svg or .pdf; needs matplotlib)")
    add_parallel_flags(p)
    report_flags(p, json_help="print the rows as JSON")


def cmd_track(args) -> int:
    if args.plot is not None:
        check_destination(args.plot)       # before any solve: format, folder, matplotlib
    methods = [m.strip().lower() for m in args.method.split(",") if m.strip()]
    q = Tracking(question_from_args(args), output_node=args.output_node,
                 samples=checked_samples(args), seed=args.seed, time_limit=args.time_limit,
                 solver=args.solver, bounds=args.bounds, formulation=args.formulation)
    ckpts = discover(args.checkpoints)
    try:
        rep = track(ckpts, q, methods, args.out, parallelism(args),
                    progress=None if args.quiet else sys.stderr)
    except KeyboardInterrupt as exc:
        print("lipc: interrupted; finished rows are kept: run the same command again to "
              "resume", file=sys.stderr)
        return exit_status(exc)
    if args.plot is not None:
        plot_track(rep.rows, args.plot, ylabel=f"local Lipschitz constant ({args.input_norm} "
                   "input norm)")
    if args.json:
        print(json.dumps(rep.rows, indent=1, default=float))
    elif not args.quiet:
        print(f"{'series':12} {'step':>6} {'method':9} {'guarantee':9} {'value':>12} "
              f"{'status':12} {'interval':>27} {'time (s)':>9}")
        for r in rep.rows:
            iv = (f"[{number_text(r['lower'], 6)}, {number_text(r['upper'], 6)}]"
                  if r["lower"] is not None or r["upper"] is not None else "")
            print(f"{r['series'][:12]:12} {r['step']:>6} {r['method']:9} {r['guarantee']:9} "
                  f"{number_text(r['value'], 6):>12} {r['status']:12} {iv:>27} "
                  f"{number_text(r['seconds'], 6):>9}")
        print(f"{len(rep.rows)} rows ({rep.computed} computed, {rep.reused} from an earlier run) "
              f"in {args.out}")
    errors = [r for r in rep.rows if r["status"] == "error"]
    for r in errors:
        print(f"lipc: {r['method']} on {r['checkpoint']}: {r['message']}", file=sys.stderr)
    return 1 if errors else 0
