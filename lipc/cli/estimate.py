"""The ``lipc estimate`` and ``lipc compare`` commands (wired into lipc.cli's COMMANDS)."""
from __future__ import annotations

import argparse
import csv
import json
import sys

from .. import api
from ..util.text import number_text
from .argtypes import nonnegative_int, positive_int
from ..compiler.pipeline import CompileOptions
from ..solvers import SolveOptions
from ..estimators import ESTIMATORS
from ..errors import LipcError, QueryError
from .flags import (method_flag, model, question_from_args, report_flags, solver_flag, stamped,
                    time_limit_flag, used_line, used_text)
from ..version import __version__

MAX_SAMPLES = 1_000_000     # randomlb / clever points held in memory at once (x inputs x seeds)


def add_flags(p: argparse.ArgumentParser, name: str) -> None:
    if name == "estimate":
        method_flag(p, choices=list(ESTIMATORS))
    else:
        method_flag(p, default=",".join(ESTIMATORS))
        p.add_argument("--csv", action="store_true", help="the table as CSV")
    method_flags(p)
    report_flags(p)


def method_flags(p: argparse.ArgumentParser) -> None:
    """Options of the estimators themselves (shared with lipc track)."""
    p.add_argument("--samples", type=positive_int, default=1000, help="randomlb: random points (1000)")
    p.add_argument("--max-samples", type=positive_int, default=MAX_SAMPLES,
                   help=f"refuse a --samples above this (default {MAX_SAMPLES:_}): the points "
                        "and their gradients are held in memory at once")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (randomlb, solver)")
    time_limit_flag(p, "per MIP/LP solve (lipmip, liplp)")
    solver_flag(p, what="MIP/LP solver for lipmip and liplp")


def checked_samples(args) -> int:
    """``--samples``, refused above ``--max-samples`` before anything is allocated (issue 19:
    ``--samples 1e11`` ran the machine out of memory)."""
    if args.samples > args.max_samples:
        raise LipcError(f"--samples {args.samples} is above --max-samples {args.max_samples} "
                        "(every point and its gradients are held in memory); raise "
                        "--max-samples to allow it")
    return args.samples


def _kwargs(args) -> dict:
    checked_samples(args)
    opts = SolveOptions(time_limit=args.time_limit, solver=args.solver, seed=args.seed)
    return dict(net=model(args), domain=question_from_args(args), samples=args.samples,
                seed=args.seed, options=opts,
                compile_options=CompileOptions(bounds=args.bounds, formulation=args.formulation))


def cmd_estimate(args) -> int:
    res = api.estimate(method=args.method, **_kwargs(args))
    if args.json:
        print(json.dumps(stamped(res.to_dict()), indent=2, default=float))
        return 0
    print(f"{res.method} estimate of the local Lipschitz constant of {res.output} over "
          f"{res.domain}")
    print(f"  input norm {res.input_norm}")
    print(f"  guarantee  {res.guarantee}")
    print(f"  value      {number_text(res.value, 6)}")
    print(f"  time       {res.seconds:.3f} s")
    print(used_line(res.details))
    return 0


def cmd_compare(args) -> int:
    if args.json and args.csv:
        raise QueryError("give at most one of --json and --csv")
    res = api.compare(methods=args.method, **_kwargs(args))
    if args.json:
        print(json.dumps(stamped(res.to_dict()), indent=2, default=float))
        return 0
    cols = ["method", "guarantee", "value", "seconds", "relative_error"]
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(cols)
        for r in res.rows:
            w.writerow([r[c] if r[c] is not None else "" for c in cols])
        return 0
    print(f"local Lipschitz constant of {res.output} over {res.domain}, input norm "
          f"{res.input_norm}; exact value {number_text(res.exact, 6)}")
    print(f"  {'method':10} {'guarantee':9} {'value':>12} {'time (s)':>10} {'rel. error':>11}"
          "  computed with")
    for r in res.rows:
        rel = "-" if r["relative_error"] is None else f"{100 * r['relative_error']:+.2f}%"
        print(f"  {r['method']:10} {r['guarantee']:9} {number_text(r['value'], 6):>12} "
              f"{r['seconds']:>10.4f} {rel:>11}  {used_text(r['details'])}".rstrip())
    print(f"  lipc       {__version__}")
    return 0
