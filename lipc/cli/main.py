"""The ``lipc`` command line: compile, solve, show.

Errors caused by the user's input (``LipcError``) become one line on stderr and exit status 2;
anything else is a bug in lipc and keeps its traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from ..errors import LipcError
from ..studies import bench as bench_cli
from ..util.stopping import exit_status, signals_interrupt
from . import certify as certify_cli
from . import dsl as dsl_cli
from . import estimate as estimators_cli
from . import network
from . import track as track_cli
from .argtypes import nonnegative_int, positive_float, positive_int
from .flags import compile_flags, model_flags


def _on_model(command: str, run: Callable) -> Callable:
    """The handler of ``command``: a lipc program (or ``show --dsl``) goes to lipc.cli.dsl."""
    def handler(args) -> int:
        rc = dsl_cli.dispatch(args, command)
        return run(args) if rc is None else rc
    return handler


COMMANDS: dict[str, tuple[Callable, str]] = {
    "compile": (_on_model("compile", network.compile_command), "write the Lipschitz MIP as .mps, .mps.gz or .lp"),
    "solve": (_on_model("solve", network.solve_command), "compute the local Lipschitz constant with a MIP solver"),
    "show": (_on_model("show", network.show_command), "print the IR: nodes, shapes, bounds and unstable counts"),
    "estimate": (estimators_cli.cmd_estimate, "estimate the local Lipschitz constant with one "
                 "method (randomlb, naiveub, fastlip, liplp, lipmip)"),
    "compare": (estimators_cli.cmd_compare, "run several estimators side by side (the "
                "LipMIP paper's Table 1): guarantee, value, time, relative error"),
    "bench": (bench_cli.cmd_bench, bench_cli.HELP),
    "track": (track_cli.cmd_track, track_cli.HELP),
    "certify": (certify_cli.cmd_certify, certify_cli.HELP),
}
# commands with their own arguments (no single model file)
OWN_FLAGS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "bench": bench_cli.add_flags, "track": track_cli.add_flags,
    "certify": certify_cli.add_flags}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lipc", description="Exact local Lipschitz constants of "
                                 "ReLU networks by mixed-integer programming (LipMIP).")
    sub = ap.add_subparsers(dest="command", required=True)
    for name, (_, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name in OWN_FLAGS:
            OWN_FLAGS[name](p)
            continue
        model_flags(p, domain_required=False)      # required for ONNX models: checked in main
        p.add_argument("--query", default=None, metavar="NAME_OR_INDEX",
                       help="for a .lipc program: the query to run (default: all for solve)")
        if name == "show":
            p.add_argument("--dsl", action="store_true",
                           help="print the network as lipc text (parses back to the same IR)")
        compile_flags(p)
        p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
        if name == "compile":
            p.add_argument("-o", "--out", required=True, help="output file (.mps, .mps.gz, .lp)")
        if name in ("estimate", "compare"):
            estimators_cli.add_flags(p, name)
        if name == "solve":
            p.add_argument("--time-limit", "-t", type=positive_float, default=None,
                           help="seconds")
            p.add_argument("--node-limit", type=positive_int, default=None, metavar="N",
                           help="branch-and-bound nodes: a budget that, unlike --time-limit, "
                                "gives the same answer under any load (status node_limit)")
            p.add_argument("--threads", type=positive_int, default=1)
            p.add_argument("--gap", type=float, default=1e-7,
                           help="relative MIP gap at which to stop (default 1e-7)")
            p.add_argument("--gap-abs", type=float, default=0.0,
                           help="absolute MIP gap at which to stop (default 0: only the "
                                "relative gap, which does not depend on the output's units)")
            p.add_argument("--solver", "-s", default="auto", metavar="NAME",
                           help="cbc, highs, scip, gurobi, cplex, xpress; auto (default: the "
                                "fastest usable one), race (the two best in parallel "
                                "processes) or race:A,B")
            p.add_argument("--cross-check", default=None, metavar="SOLVER",
                           help="re-solve with a second solver; any disagreement beyond 1e-6 "
                                "relative is an error")
            p.add_argument("--feas-tol", type=float, default=1e-9,
                           help="primal feasibility tolerance (default 1e-9)")
            p.add_argument("--int-tol", type=float, default=1e-9,
                           help="integrality tolerance (default 1e-9)")
            p.add_argument("--seed", type=nonnegative_int, default=0, help="solver random seed")
            p.add_argument("--no-retry", action="store_true",
                           help="on an impossible infeasible/unbounded answer, fail at once "
                                "instead of retrying with other tolerances and solvers")
            p.add_argument("--json", action="store_true", help="machine-readable result")
        if name == "solve":
            p.add_argument("--strict", action="store_true",
                           help="exit 3 unless the status is optimal (proved): 0 proved, "
                                "3 not proved, 2 input error, 1 internal error")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if (args.command != "show" and args.command not in OWN_FLAGS and args.domain is None
            and not args.model.lower().endswith(".lipc")):
        ap.error(f"the following arguments are required: --domain/-d (for {args.model})")
    try:
        with signals_interrupt():
            return COMMANDS[args.command][0](args)
    except LipcError as exc:
        print(f"lipc: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:               # e.g. `lipc solve ... --json | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        print("lipc: interrupted", file=sys.stderr)
        return exit_status(exc)


if __name__ == "__main__":
    sys.exit(main())
