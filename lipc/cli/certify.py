"""The ``lipc certify`` command (wired into lipc.cli's COMMANDS): a certified robustness radius
at the centre of a ball, as text or JSON."""
from __future__ import annotations

import argparse
import json
import sys

from ..solvers import SolveOptions
from ..util.text import number_text
from ..verify.certify import CertifyResult, certify
from .argtypes import positive_int
from .flags import (compile_flags, compile_options, model, report_flags, solver_flag, stamped,
                    time_limit_flag, used_line)

HELP = ("certified robustness radius at a ball's centre: the margin to every other class over "
        "its exact local Lipschitz constant, min(r, margin / L)")


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="classifier (.onnx, or a .lipc program's output network)")
    p.add_argument("--domain", "-d", required=True,
                   help="the ball: linf:CENTER:RADIUS[:LO:HI] or l1:CENTER:RADIUS[:LO:HI] "
                        "(CENTER a comma list or .npy file; optionally clipped to [LO, HI])")
    p.add_argument("--input-norm", "--norm", default=None,
                   help="norm of the radius: linf or l1 (default: the ball's own)")
    p.add_argument("--output-node", default=None, metavar="TENSOR",
                   help="analyse the ONNX graph up to this tensor (e.g. the logits)")
    compile_flags(p)
    time_limit_flag(p, "for the whole certification, shared by the per-class solves")
    p.add_argument("--threads", type=positive_int, default=1)
    solver_flag(p)
    report_flags(p)


def _print(res: CertifyResult) -> None:
    print(f"certified robustness radius at the centre of the {res.domain}")
    print(f"  predicted  class {res.predicted} (outputs {[float(f'{v:.6g}') for v in res.outputs]})")
    print(f"  status     {res.status}")
    print(f"  radius     {res.radius!r}   ({res.input_norm} norm; the ball allows at most "
          f"{res.cap!r})")
    if res.message:
        print(f"  note       {res.message}")
    print(f"  {'class':>5} {'margin':>15} {'L lower':>15} {'L upper':>15} {'status':>12} "
          f"{'radius':>15}  solver")
    for r in res.classes:
        print(f"  {r.cls:>5} {number_text(r.margin, 9):>15} {number_text(r.lower, 9):>15} {number_text(r.upper, 9):>15} "
              f"{r.status:>12} {number_text(r.radius, 9):>15}  {r.solver or '-'}")
    print(f"  time       {res.seconds:.3f} s")
    print(used_line(res.compiled))


def cmd_certify(args) -> int:
    opts = SolveOptions(time_limit=args.time_limit, threads=args.threads, solver=args.solver,
                        progress=not args.quiet and not args.json and sys.stderr.isatty())
    res = certify(model(args), args.domain, input_norm=args.input_norm, options=opts,
                  compile_options=compile_options(args))
    if args.json:
        print(json.dumps(stamped(res.to_dict()), indent=2))
    else:
        _print(res)
    return 0
