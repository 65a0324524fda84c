"""``lipc solve``, ``compile`` and ``show`` on a network model (ONNX, or a lipc program's network):
public command functions, also called by the lipc-language commands (lipc.cli.dsl)."""
from __future__ import annotations

import sys

import numpy as np

from .. import api
from ..bab.driver import BabOptions
from ..errors import QueryError
from ..core.ir import Affine, Conditional, Const, Input, Switch
from ..solvers import SolveOptions
from ..util.text import json_text, number_text
from . import solverlog
from .flags import compile_options, model, question_from_args, stamped, used_line


def compile_command(args) -> int:
    p, low = api.compile(model(args), question_from_args(args), out=args.out,
                         compile_options=compile_options(args))
    m = low.mip
    if not args.quiet:
        print(f"wrote {args.out}: {m.n_cols} columns ({m.meta['binaries']} binary), "
              f"{m.n_rows} rows, {m.nnz} nonzeros; the optimum (maximised; the file minimises "
              f"its negation) is the local Lipschitz constant")
    return 0


def solve_result(args) -> api.LipschitzResult:
    """The result of ``lipc solve`` on a network, for printing or ``to_dict()``."""
    opts = SolveOptions(time_limit=args.time_limit, threads=args.threads, gap=args.gap,
                        gap_abs=args.gap_abs, feas_tol=args.feas_tol, int_tol=args.int_tol,
                        seed=args.seed, solver=args.solver, cross_check=args.cross_check,
                        retry=not args.no_retry, node_limit=args.node_limit,
                        progress=not args.quiet and not args.json and sys.stderr.isatty())
    stops = dict(checkpoint=args.checkpoint, resume=args.resume, export_nodes=args.export_nodes)
    if args.engine != "bab" and any(stops.values()):
        raise QueryError("--checkpoint, --resume and --export-nodes need --engine bab")
    bab = BabOptions(workers=args.workers, scheduler=args.scheduler, tls_ca=args.tls_ca,
                     tls_cert=args.tls_cert, tls_key=args.tls_key, node_limit=args.node_limit,
                     **stops)
    return api.solve(model(args), question_from_args(args), options=opts,
                     compile_options=compile_options(args), engine=args.engine, bab=bab)


def solve_command(args) -> int:
    solverlog.check(args.log)
    res = solve_result(args)
    if args.log is not None:
        solverlog.write(args.log, res.solver, res.log)
    if args.json:
        print(json_text(stamped(res.to_dict())))
    else:
        print_result(res)
    return 3 if args.strict and res.status != "optimal" else 0


def print_result(res: api.LipschitzResult) -> None:
    print(f"local Lipschitz constant of {res.output} over {res.domain}")
    print(f"  input norm {res.input_norm}")
    print(f"  status     {res.status}")
    if res.value is not None:
        print(f"  value      {number_text(res.value)}")
    print(f"  interval   [{number_text(res.lower)}, {number_text(res.upper)}]   (lower: verified on the "
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
        return
    print(f"  MIP        {s['columns']} columns, {s['rows']} rows, {s['nonzeros']} nonzeros, "
          f"{s['binaries']} binaries, max big-M {s['max_big_m']:.4g}")
    print(f"  solver     {res.solver}: {res.seconds:.3f} s, {res.nodes} nodes")
    print(used_line(s))
    t = s.get("solver_settings") or {}
    if t:
        print(f"  tolerances feasibility {t['feasibility_tol']:g}, integrality "
              f"{t['integrality_tol']:g}, gap {t['gap_rel']:g} rel / {t['gap_abs']:g} abs"
              f"{'' if t['presolve'] else ', presolve off'}")


_KIND = {Input: "input", Const: "const", Affine: "affine", Conditional: "cond", Switch: "switch"}


def show_command(args) -> int:
    if args.domain:
        p = api.problem(model(args), question_from_args(args),
                        compile_options=compile_options(args))
        graph, nodes = p.graph, sorted(p.graph.needed(p.objective), key=lambda n: int(n[1:]))
    else:
        net = model(args)
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
