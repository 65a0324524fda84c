"""The flag groups shared by lipc's subcommands, and what they turn into: the model named on the
command line and the compile options.  One spelling for solve, compile, show, estimate, compare,
track, certify and bench: a flag is defined here once, so its name and short form are the same in
every subcommand (tests/test_cli_flags.py checks the parser)."""
from __future__ import annotations

import argparse

from .. import api
from ..version import __version__
from ..bounds import BOUND_METHODS
from ..compiler.pipeline import CompileOptions
from ..lowering import FORMULATIONS
from ..question.question import Question, question_fields
from ..util.workers import Parallelism
from .argtypes import (nonnegative_float, nonnegative_int, positive_float, positive_int,
                       solver_choices, solver_name)


def model_flags(p: argparse.ArgumentParser, domain_required: bool = True) -> None:
    p.add_argument("model", help="network file (.onnx) or lipc program (.lipc)")
    query_flags(p, domain_required)


def query_flags(p: argparse.ArgumentParser, domain_required: bool = True) -> None:
    """The Lipschitz question's flags: domain, norms, output (shared with lipc track)."""
    p.add_argument("--domain", "-d", required=domain_required,
                   help="input region: box:LO:HI, linf:CENTER:RADIUS[:LO:HI], "
                        "l1:CENTER:RADIUS[:LO:HI] or polytope:A.npy,b.npy[:LO:HI]; LO, HI, "
                        "CENTER and RADIUS are numbers, comma lists or .npy files")
    p.add_argument("--input-norm", "--norm", default="linf",
                   help="norm on the input space: linf (default), l1, linf:w.npy / l1:w.npy "
                        "(weighted by positive w), custom:V.npy (unit ball conv(+-rows of V))")
    p.add_argument("--output", "-y", default=None,
                   help="scalar function of the outputs: 3 (f_3), 0-1 (f_0 - f_1), 1,-1,0 "
                        "(weights) or c.npy; may be omitted for single-output networks")
    p.add_argument("--output-node", default=None, metavar="TENSOR",
                   help="analyse the ONNX graph up to this tensor (e.g. the logits before a "
                        "final softmax)")
    p.add_argument("--output-norm", default=None,
                   help="instead of --output, a norm on the output vector: linf, l1, margin "
                        "(max over i != j of the Lipschitz constant of f_i - f_j), margin:T "
                        "(targeted at class T) or margin:center (T = class at the domain centre)")


def question_from_args(args) -> Question:
    """The question the query flags spell (lipc.question.question.Question)."""
    return Question(**question_fields(args))


def compile_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bounds", default="auto", choices=sorted(BOUND_METHODS),
                   help="bound inference for the big-M constants: interval, symbolic, lp, mip, "
                        "or auto (default: symbolic + LP on small models; interval with "
                        "--formulation paper)")
    p.add_argument("--formulation", default="lipc", choices=sorted(FORMULATIONS),
                   help="MIP formulation: lipc (default) or paper (the original LipMIP model)")


def model(args):
    """The network named on the command line (an ONNX graph cut at --output-node if given)."""
    return api.load(args.model, output_node=args.output_node)


def compile_options(args) -> CompileOptions:
    return CompileOptions(bounds=args.bounds, formulation=args.formulation)


def solver_flag(p: argparse.ArgumentParser, default: str = "auto",
                choices: list[str] | None = None, what: str = "MIP solver") -> None:
    """``--solver/-s``: by default any name of the solver registry (or auto / race / race:A,B);
    a command that can run only some back ends passes them as ``choices``."""
    if choices is not None:
        p.add_argument("--solver", "-s", default=default, choices=choices,
                       help=f"{what}: {', '.join(choices)} (default {default})")
        return
    p.add_argument("--solver", "-s", default=default, type=solver_name, metavar="NAME",
                   help=f"{what}: {', '.join(solver_choices())} or race:A,B (default "
                        f"{default}: auto is the fastest usable one, race the two best in "
                        "parallel processes)")


def time_limit_flag(p: argparse.ArgumentParser, what: str, default: float | None = None) -> None:
    p.add_argument("--time-limit", "-t", type=positive_float, default=default, metavar="SECONDS",
                   help=f"seconds {what}" + ("" if default is None else f" (default {default:g})"))


def method_flag(p: argparse.ArgumentParser, choices: list[str] | None = None,
                default: str | None = None) -> None:
    """``--method/-m`` (alias ``--methods``): one estimator (``choices``), or a comma list."""
    if choices is not None:
        p.add_argument("--method", "--methods", "-m", dest="method", required=True,
                       choices=choices, help="estimator: " + ", ".join(choices))
        return
    p.add_argument("--method", "--methods", "-m", dest="method", default=default,
                   metavar="LIST", help=f"comma list of methods (default {default})")


def engine_flags(p: argparse.ArgumentParser) -> None:
    """lipc solve's engine: one MIP, or branch and bound (lipc.bab) and where its nodes run."""
    p.add_argument("--engine", default="mip", choices=("mip", "bab", "auto"),
                   help="mip: one MIP (default); bab: branch and bound on unstable neurons, each "
                        "node re-bounded by the compiler's passes; auto: the single MIP for a "
                        "probe (10%% of --time-limit, 5-10 s), then, the MIP held, bab for as long; "
                        "the one with the lower upper bound goes on")
    add_parallel_flags(p)                  # bab: where the nodes are bounded
    p.add_argument("--node-limit", type=positive_int, default=None, metavar="N",
                   help="a budget of nodes (the MIP solver's branch-and-bound nodes, or bab's): "
                        "unlike --time-limit it gives the same answer under any load (status "
                        "node_limit, with its interval)")
    p.add_argument("--checkpoint", metavar="FILE", default=None,
                   help="bab: save the search state to FILE at every batch and at any stop "
                        "(a new file or a lipc checkpoint of this run)")
    p.add_argument("--resume", metavar="FILE", default=None,
                   help="bab: continue the run saved in FILE (same model, question and "
                        "settings; --node-limit counts its nodes too); saves back to FILE "
                        "unless --checkpoint names another")
    p.add_argument("--export-nodes", metavar="DIR", default=None,
                   help="bab: at the stop, write the open nodes' MIPs to DIR as a library "
                        "(lipc bench solve DIR): the constant is the max of the lower bound "
                        "and minus their optima")


def report_flags(p: argparse.ArgumentParser, json_help: str = "machine-readable result") -> None:
    """``--json`` and ``--quiet/-q``: what every command prints."""
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")


def solve_flags(p: argparse.ArgumentParser) -> None:
    """The MIP solve's settings (lipc solve)."""
    time_limit_flag(p, "for the solve (all attempts together)")
    p.add_argument("--threads", type=positive_int, default=1)
    p.add_argument("--gap", type=nonnegative_float, default=1e-7,
                   help="relative MIP gap at which to stop (default 1e-7)")
    p.add_argument("--gap-abs", type=nonnegative_float, default=0.0,
                   help="absolute MIP gap at which to stop (default 0: only the relative gap, "
                        "which does not depend on the output's units)")
    solver_flag(p)
    p.add_argument("--cross-check", default=None, metavar="SOLVER", type=solver_name,
                   help="re-solve with a second solver; any disagreement beyond 1e-6 "
                        "relative is an error")
    p.add_argument("--feas-tol", type=positive_float, default=1e-9,
                   help="primal feasibility tolerance (default 1e-9)")
    p.add_argument("--int-tol", type=positive_float, default=1e-9,
                   help="integrality tolerance (default 1e-9)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="solver random seed")
    p.add_argument("--no-retry", action="store_true",
                   help="on an impossible infeasible/unbounded answer, fail at once "
                        "instead of retrying with other tolerances and solvers")
    p.add_argument("--log", default=None, metavar="FILE",
                   help="keep the solver's log in FILE (a file lipc wrote, or a new one)")
    p.add_argument("--strict", action="store_true",
                   help="exit 3 unless the status is optimal (proved): 0 proved, "
                        "3 not proved, 2 input error, 1 internal error")


def stamped(report: dict) -> dict:
    """A JSON report with the lipc version that produced it (results are compared across
    versions, and a changed default must be traceable)."""
    return {**report, "lipc_version": __version__}


def used_text(details: dict) -> str:
    """What a result was computed with, from its report (a LipschitzResult's stats, an
    estimator's details): solver, formulation, bound method and the bound analyses that ran;
    the parts a method did not use are left out."""
    parts = [f"solver {details['solver']}"] if details.get("solver") else []
    parts += [f"formulation {details['formulation']}"] if "formulation" in details else []
    if "bounds" in details:
        sources = details.get("bound_sources")
        parts.append(f"bounds {details['bounds']}"
                     + ("" if sources is None else f" ({', '.join(sources) or 'none'})"))
    return ", ".join(parts)


def used_line(details: dict) -> str:
    """The line of a text report that says what computed it: ``used_text`` and the lipc
    version (only the version for a method that used no solver and compiled nothing)."""
    used = used_text(details)
    return f"  compiled   {used}, lipc {__version__}" if used else f"  lipc       {__version__}"


def add_parallel_flags(p: argparse.ArgumentParser) -> None:
    """--workers / --scheduler (and a tls:// scheduler's certificates): bench, track, solve's bab."""
    p.add_argument("--workers", "-j", type=positive_int, default=1,
                   help="local worker processes (default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the jobs on a Dask cluster, tcp://host:8786 or tls://host:8786 "
                        "(the 'cluster' extra; the workers must see the input files). TRUSTED "
                        "CLUSTERS ONLY: jobs and results travel as pickles")
    for flag, what in (("--tls-ca", "CA certificate"), ("--tls-cert", "client certificate"),
                       ("--tls-key", "client private key")):
        p.add_argument(flag, metavar="PEM", default=None,
                       help=f"tls:// scheduler: the {what} (Dask Security)")


def parallelism(args) -> Parallelism:
    return Parallelism(workers=args.workers, scheduler=args.scheduler, tls_ca=args.tls_ca,
                       tls_cert=args.tls_cert, tls_key=args.tls_key)
