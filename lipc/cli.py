"""The ``lipc`` command line: compile, solve, show.

Errors caused by the user's input (``LipcError``) become one line on stderr and exit status 2;
anything else is a bug in lipc and keeps its traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

import numpy as np

from . import api
from .argtypes import nonnegative_int, positive_float, positive_int
from .solvers import SolveOptions
from .compiler import BOUND_METHODS, CompileOptions
from .errors import LipcError
from . import bench as bench_cli
from . import track_cli
from .estimators import cli as estimators_cli
from .ir import Affine, Conditional, Const, Input, Switch
from .lower import FORMULATIONS


def _common(p: argparse.ArgumentParser, domain_required: bool = True) -> None:
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


def compile_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bounds", default="auto", choices=sorted(BOUND_METHODS),
                   help="bound inference for the big-M constants: interval, symbolic, lp, mip, "
                        "or auto (default: symbolic + LP on small models; interval with "
                        "--formulation paper)")
    p.add_argument("--formulation", default="lipc", choices=sorted(FORMULATIONS),
                   help="MIP formulation: lipc (default) or paper (the original LipMIP model)")


def _model(args):
    """The network named on the command line (an ONNX graph cut at --output-node if given)."""
    return api.load(args.model, output_node=args.output_node)


def _compile_options(args) -> CompileOptions:
    return CompileOptions(bounds=args.bounds, formulation=args.formulation)


def _fmt(v) -> str:
    return "-" if v is None else repr(float(v))


def _dsl(args, command: str) -> int | None:
    """A lipc program (.lipc) or `show --dsl`: handled by lipc.dsl_cli (None: not one)."""
    if str(args.model).lower().endswith(".lipc") or getattr(args, "dsl", False):
        from . import dsl_cli
        return dsl_cli.dispatch(args, command)
    return None


def _cmd_compile(args) -> int:
    if (rc := _dsl(args, "compile")) is not None:
        return rc
    p, low = api.compile(_model(args), args.domain, args.output, args.input_norm, out=args.out,
                         compile_options=_compile_options(args), output_norm=args.output_norm)
    m = low.mip
    if not args.quiet:
        print(f"wrote {args.out}: {m.n_cols} columns ({m.meta['binaries']} binary), "
              f"{m.n_rows} rows, {m.nnz} nonzeros; the optimum (maximised; the file minimises "
              f"its negation) is the local Lipschitz constant")
    return 0


def _cmd_solve(args) -> int:
    if (rc := _dsl(args, "solve")) is not None:
        return rc
    opts = SolveOptions(time_limit=args.time_limit, threads=args.threads, gap=args.gap,
                        gap_abs=args.gap_abs, feas_tol=args.feas_tol, int_tol=args.int_tol,
                        seed=args.seed, solver=args.solver, cross_check=args.cross_check,
                        retry=not args.no_retry,
                        progress=not args.quiet and not args.json and sys.stderr.isatty())
    from .bab.driver import BabOptions
    bab = BabOptions(workers=args.workers, scheduler=args.scheduler, node_limit=args.node_limit)
    res = api.solve(_model(args), args.domain, args.output, args.input_norm, opts,
                    compile_options=_compile_options(args), output_norm=args.output_norm,
                    engine=args.engine, bab=bab)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, default=float))
        return 0
    print(f"local Lipschitz constant of {res.output} over {res.domain}")
    print(f"  input norm {res.input_norm}")
    print(f"  status     {res.status}")
    if res.value is not None:
        print(f"  value      {_fmt(res.value)}")
    print(f"  interval   [{_fmt(res.lower)}, {_fmt(res.upper)}]   (lower: verified on the "
          f"original network; upper: solver bound)")
    if res.message:
        print(f"  note       {res.message}")
    w = res.witness
    if w is not None and w.x is not None:
        print(f"  witness    x = {np.array2string(np.array(w.x), precision=6, max_line_width=200)}"
              f" (ball of radius {w.radius:.3g} inside its activation region)")
    s = res.stats
    if "bab" in s:
        b = s["bab"]
        print(f"  bab        {b['nodes']} nodes, {b['pruned']} pruned, {b['closed']} closed, "
              f"{b['open']} open, {b['mip_hand_offs']} MIP hand-offs, {b['workers']} worker(s); "
              f"{res.seconds:.3f} s")
        return 0
    print(f"  MIP        {s['columns']} columns, {s['rows']} rows, {s['nonzeros']} nonzeros, "
          f"{s['binaries']} binaries, max big-M {s['max_big_m']:.4g}")
    print(f"  solver     {res.solver}: {res.seconds:.3f} s, {res.nodes} nodes")
    t = s.get("solver_settings") or {}
    if t:
        print(f"  tolerances feasibility {t['feasibility_tol']:g}, integrality "
              f"{t['integrality_tol']:g}, gap {t['gap_rel']:g} rel / {t['gap_abs']:g} abs"
              f"{'' if t['presolve'] else ', presolve off'}")
    return 0


_KIND = {Input: "input", Const: "const", Affine: "affine", Conditional: "cond", Switch: "switch"}


def _cmd_show(args) -> int:
    if (rc := _dsl(args, "show")) is not None:
        return rc
    if args.domain:
        p = api.problem(_model(args), args.domain, args.output, args.input_norm,
                        _compile_options(args), args.output_norm)
        graph, nodes = p.graph, sorted(p.graph.needed(p.objective), key=lambda n: int(n[1:]))
    else:
        net = _model(args)
        graph, nodes = net.graph, net.graph.topo()
        for note in net.notes:
            print(f"# {note}")
    print(f"{'node':>6} {'kind':7} {'stage':8} {'size':>5}  {'bounds':>27} {'unstable':>8}  label")
    total = 0
    for name in nodes:
        op = graph.op(name)
        b = graph.bounds.get(name)
        rng = f"[{b.lo.min():.4g}, {b.hi.max():.4g}]" if b is not None else ""
        unstable = ""
        if isinstance(op, Conditional) and b is not None:
            k = int(np.sum(b.lo != b.hi))
            total += k
            unstable = str(k)
        print(f"{name:>6} {_KIND[type(op)]:7} {graph.stage(name):8} {op.size:>5}  {rng:>27} "
              f"{unstable:>8}  {graph.label(name)}")
    if args.domain:
        print(f"{len(nodes)} nodes, {total} unstable conditionals (binaries)")
    return 0


COMMANDS: dict[str, tuple[Callable, str]] = {
    "compile": (_cmd_compile, "write the Lipschitz MIP as .mps, .mps.gz or .lp"),
    "solve": (_cmd_solve, "compute the local Lipschitz constant with a MIP solver"),
    "show": (_cmd_show, "print the IR: nodes, shapes, bounds and unstable counts"),
    "estimate": (estimators_cli.cmd_estimate, "estimate the local Lipschitz constant with one "
                 "method (randomlb, naiveub, fastlip, liplp, lipmip)"),
    "compare": (estimators_cli.cmd_compare, "run several estimators side by side (the "
                "LipMIP paper's Table 1): guarantee, value, time, relative error"),
    "bench": (bench_cli.cmd_bench, bench_cli.HELP),
    "track": (track_cli.cmd_track, track_cli.HELP),
}
# commands with their own arguments (no single model file)
OWN_FLAGS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "bench": bench_cli.add_flags, "track": track_cli.add_flags}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lipc", description="Exact local Lipschitz constants of "
                                 "ReLU networks by mixed-integer programming (LipMIP).")
    sub = ap.add_subparsers(dest="command", required=True)
    for name, (_, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name in OWN_FLAGS:
            OWN_FLAGS[name](p)
            continue
        _common(p, domain_required=False)      # required for ONNX models: checked in main
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
            p.add_argument("--threads", type=positive_int, default=1)
            p.add_argument("--gap", type=float, default=1e-7,
                           help="relative MIP gap at which to stop (default 1e-7)")
            p.add_argument("--gap-abs", type=float, default=1e-9,
                           help="absolute MIP gap at which to stop (default 1e-9)")
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
            p.add_argument("--engine", default="mip", choices=("mip", "bab", "auto"),
                           help="mip: one MIP (default); bab: branch and bound on unstable "
                                "neurons, each node re-bounded by the compiler's passes; auto: "
                                "bab when the query has many unstable neurons")
            p.add_argument("--workers", type=positive_int, default=1,
                           help="bab: local worker processes bounding nodes")
            p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                           help="bab: bound nodes on this Dask cluster")
            p.add_argument("--node-limit", type=positive_int, default=None,
                           help="bab: stop after bounding this many nodes (the interval is "
                                "reported)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if (args.command != "show" and args.command not in OWN_FLAGS and args.domain is None
            and not args.model.lower().endswith(".lipc")):
        ap.error(f"the following arguments are required: --domain/-d (for {args.model})")
    try:
        return COMMANDS[args.command][0](args)
    except LipcError as exc:
        print(f"lipc: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:               # e.g. `lipc solve ... --json | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("lipc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
