"""What the command line does with a lipc program (.lipc), and ``show --dsl``.

``lipc solve prog.lipc`` runs every query of the program in order (``--query NAME_OR_INDEX``
picks one); ``lipc compile prog.lipc -o out.mps`` needs exactly one query (or ``--query``);
``lipc show prog.lipc`` prints the IR of the program's network (``--query`` that of a query).
With ``--output`` or ``--output-norm`` the program is used as a network, exactly like an ONNX
model (its ``output`` statement; the domain from ``--domain`` or the input's declaration).

Lipschitz queries are handed to the network commands (lipc.cli.network) with the
program as the model and the query as its output node, so the report, the JSON and every solver
option are the same; range queries (maximize/minimize) go through ``api.solve_range``.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

import numpy as np

from ..frontends.dsl import Program, load_program, query_domain, to_dsl
from ..errors import DomainError, QueryError
from ..util.text import number_text
from . import network
from .flags import compile_options, stamped
from ..api import compile_range, load, solve_range
from ..solvers import SolveOptions


def is_program(model) -> bool:
    return isinstance(model, str) and model.lower().endswith((".lipc", ".lipc.gz"))


def dispatch(args, command: str) -> int | None:
    """Handle ``args`` if it is about a program (or ``show --dsl``); None: not ours."""
    if command == "show" and getattr(args, "dsl", False):
        return _show_dsl(args)
    if not is_program(args.model):
        return None
    return COMMANDS[command](args)


def _sub(args, **changes) -> argparse.Namespace:
    ns = argparse.Namespace(**vars(args))
    ns.__dict__.update(changes)
    return ns


def _network_mode(args, prog: Program) -> bool:
    return args.output is not None or args.output_norm is not None or not prog.queries


def _as_network(args, prog: Program, need_domain: bool) -> argparse.Namespace:
    domain = args.domain if args.domain is not None or not need_domain else prog.domain
    if need_domain and domain is None:
        raise DomainError(f"{args.model} declares no domain for its input: pass --domain or "
                          "write `input x[n] in DOMAIN`")
    return _sub(args, domain=domain, output_node=args.output_node or getattr(args, "query", None))


def _as_query(args, q, domain) -> argparse.Namespace:
    norm = args.input_norm if args.input_norm not in (None, "linf") else q.question.input_norm
    return _sub(args, output_node=str(q.index), domain=domain, output=None,
                output_norm=q.question.output_norm, input_norm=norm)


def _selected(args, prog: Program, one: bool) -> list:
    key = getattr(args, "query", None)
    if key is not None:
        return [prog.query(key)]
    if one and len(prog.queries) > 1:
        names = ", ".join(f"{q.index} ({q.label})" for q in prog.queries)
        raise QueryError(f"{args.model} has {len(prog.queries)} queries: choose one with "
                         f"--query NAME_OR_INDEX ({names})")
    return prog.queries


def solve_options(args):
    """SolveOptions from the solve subcommand's flags (every option of the same name)."""
    kw = {f.name: getattr(args, f.name) for f in fields(SolveOptions) if hasattr(args, f.name)}
    kw["retry"] = not getattr(args, "no_retry", False)
    kw["progress"] = not args.quiet and not args.json and sys.stderr.isatty()
    return SolveOptions(**kw)


# ---------------------------------------------------------------------- commands

def _solve(args) -> int:
    prog = load_program(args.model)
    if _network_mode(args, prog):
        return network.solve_command(_as_network(args, prog, need_domain=True))
    if args.log is not None:
        raise QueryError("--log keeps the log of a network's solve; it is not available for a "
                         "program's queries")
    docs = []
    for q in _selected(args, prog, one=False):
        dom = query_domain(q, args.domain)
        if not args.json:
            print(f"query {q.index}{'' if q.name is None else ' ' + q.name}: {q.describe()}")
        if q.kind == "lipschitz":
            sub = _as_query(args, q, dom)
            if args.json:
                docs.append(stamped(dict(query=q.label, kind=q.kind, expression=q.text,
                                         **network.solve_result(sub).to_dict())))
            else:
                network.solve_command(sub)
        else:
            res = solve_range(q.network, dom, None, q.kind, solve_options(args),
                              compile_options=compile_options(args))
            if args.json:
                docs.append(stamped(dict(query=q.label, kind=q.kind, expression=q.text,
                                         **res.to_dict())))
            else:
                _print_range(res, q.text)
    if args.json:
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2, default=float))
    return 0


def _print_range(res, text: str) -> None:
    print(f"{res.sense[:-3]}um of {text} over {res.domain}")
    print(f"  status     {res.status}")
    if res.value is not None:
        print(f"  value      {number_text(res.value)}")
    which = "lower" if res.sense == "maximize" else "upper"
    print(f"  interval   [{number_text(res.lower)}, {number_text(res.upper)}]   ({which}: the expression at x, "
          "evaluated on the original program; the other: solver bound)")
    if res.message:
        print(f"  note       {res.message}")
    if res.x is not None:
        x = np.array2string(np.array(res.x), precision=6, max_line_width=200)
        print(f"  point      x = {x}")
    s = res.stats
    print(f"  MIP        {s['columns']} columns, {s['rows']} rows, {s['nonzeros']} nonzeros, "
          f"{s['binaries']} binaries, max big-M {s['max_big_m']:.4g}")
    print(f"  solver     {res.solver}: {res.seconds:.3f} s, {res.nodes} nodes")


def _compile(args) -> int:
    prog = load_program(args.model)
    if _network_mode(args, prog):
        return network.compile_command(_as_network(args, prog, need_domain=True))
    q, = _selected(args, prog, one=True)
    dom = query_domain(q, args.domain)
    if q.kind == "lipschitz":
        return network.compile_command(_as_query(args, q, dom))
    p, low = compile_range(q.network, dom, None, q.kind, out=args.out,
                           compile_options=compile_options(args))
    m = low.mip
    if not args.quiet:
        what = ("minimises the negation: its optimum is minus the maximum" if q.kind == "maximize"
                else "minimises the expression itself: its optimum is the minimum")
        print(f"wrote {args.out}: {m.n_cols} columns ({m.meta['binaries']} binary), "
              f"{m.n_rows} rows, {m.nnz} nonzeros; the file {what} of {q.text}")
    return 0


def _show(args) -> int:
    prog = load_program(args.model)
    key = getattr(args, "query", None)
    if key is None or _network_mode(args, prog):
        return network.show_command(_as_network(args, prog, need_domain=False))
    q = prog.query(key)
    dom = args.domain if args.domain is not None else q.question.domain
    if q.kind == "lipschitz" and dom is not None:
        return network.show_command(_as_query(args, q, dom))
    return network.show_command(_sub(args, output_node=str(q.index), domain=None))


def _show_dsl(args) -> int:
    net = load(args.model, output_node=args.output_node or getattr(args, "query", None))
    print(to_dsl(net, domain=args.domain if isinstance(args.domain, str) else None), end="")
    return 0


COMMANDS = {"solve": _solve, "compile": _compile, "show": _show}
