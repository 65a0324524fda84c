"""The ``lipc`` command line: compile, solve, show.

Errors caused by the user's input (``LipcError``) become one line on stderr and exit status 2;
anything else is a bug in lipc and keeps its traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from ..version import __version__
from ..emit import WRITERS
from ..errors import LipcError
from ..util.stopping import exit_status, signals_interrupt
from . import bench as bench_cli
from . import certify as certify_cli
from . import dsl as dsl_cli
from . import estimate as estimators_cli
from . import network
from . import track as track_cli
from .flags import compile_flags, engine_flags, model_flags, report_flags, solve_flags


MIP_SUFFIXES = tuple(WRITERS)      # an --output ending so names a MIP file, never an output


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


def parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``lipc`` parser and each subcommand's own (whose usage a missing flag prints)."""
    ap = argparse.ArgumentParser(prog="lipc", description="Exact local Lipschitz constants of "
                                 "ReLU networks by mixed-integer programming (LipMIP).")
    ap.add_argument("--version", action="version", version=f"lipc {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    subs = {}
    for name, (_, help_) in COMMANDS.items():
        p = subs[name] = sub.add_parser(name, help=help_, description=help_)
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
        if name == "compile":
            p.add_argument("-o", "--out", metavar="FILE",
                           help="the MIP file to write (.mps, .mps.gz, .lp); required")
        if name in ("estimate", "compare"):
            estimators_cli.add_flags(p, name)
        elif name == "solve":
            solve_flags(p)
            engine_flags(p)
            report_flags(p)
        else:
            p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    return ap, subs


def parser() -> argparse.ArgumentParser:
    return parsers()[0]


def _check(args, p: argparse.ArgumentParser) -> None:
    """What argparse cannot say alone, as the subcommand's usage error: a model's --domain, and
    compile's file flag (``--output t.mps`` names the output function, not the file)."""
    if args.command in OWN_FLAGS:
        return
    if args.command == "compile":
        if args.output is not None and args.output.lower().endswith(MIP_SUFFIXES):
            p.error(f"--output {args.output} looks like a file name, but --output/-y selects the "
                    f"network's output (e.g. 0-1); write the MIP with -o/--out {args.output}")
        if args.out is None:
            p.error("the following arguments are required: -o/--out")
    if args.command != "show" and args.domain is None and not dsl_cli.is_program(args.model):
        p.error(f"the following arguments are required: --domain/-d (for {args.model})")


def main(argv: list[str] | None = None) -> int:
    ap, subs = parsers()
    args = ap.parse_args(argv)
    _check(args, subs[args.command])
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
