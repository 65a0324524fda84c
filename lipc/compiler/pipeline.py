"""The compile pipeline: network + domain + query → annotated IR → flat MIP.

The pipeline is data, a list of named passes, each timed; variants insert or replace entries
rather than copying the sequence.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .backward import differentiate
from ..bounds import BOUND_METHODS
from ..bounds.interval import unstable_count
from ..question.domain import Domain
from ..errors import QueryError, ShapeError
from ..core.ir import Bounds, Conditional, IRGraph, Term, affine
from ..lowering import FORMULATIONS, Lowered, lower
from ..core.network import Network
from .passes import resolve_options, run_passes
from ..question.query import Query
from ..question.norms import parse_input_norm
from ..question.outputs import functional


@dataclass
class CompileOptions:
    """How to compile (not what to ask): bound inference and MIP formulation."""

    bounds: str = "auto"               # a key of BOUND_METHODS
    formulation: str = "lipc"          # a key of lipc.lowering.FORMULATIONS
    passes: bool = True                # IR passes after bounds (lipc.compiler.passes; never for "paper")


@dataclass
class Problem:
    """A Lipschitz query being compiled; passes fill in the graph's nodes and bounds."""

    network: Network
    domain: Domain
    query: Query
    graph: IRGraph
    options: CompileOptions = field(default_factory=CompileOptions)
    gradient: str = ""
    objective: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    # the compiled objective is the constant times 2**-scale_exp (lipc.api normalises a fixed
    # functional c by an exact power of two, undone exactly)
    scale_exp: int = 0

    def stats(self) -> dict:
        """Sizes of the query: unstable conditionals per stage (each is one binary)."""
        per_stage: dict[str, int] = {}
        for name in self.graph.needed(self.objective):
            if isinstance(self.graph.op(name), Conditional):
                st = self.graph.stage(name)
                per_stage[st] = per_stage.get(st, 0) + unstable_count(self.graph, name)
        return {"unstable": per_stage, "nodes": len(self.graph)}


def _domain(p: Problem) -> None:
    x = p.network.input
    p.graph.bounds[x] = Bounds(p.domain.lo.copy(), p.domain.hi.copy(), "domain")
    p.domain.attach(p.graph, x, "domain")


def _backward(p: Problem) -> None:
    g = p.graph
    seed = p.query.output.seed(g)
    p.gradient = differentiate(g, p.network.input, p.network.output, seed)
    g.roles.setdefault(p.gradient, "gradient")


def _norm(p: Problem) -> None:
    p.objective = p.query.input_norm.objective(p.graph, p.gradient)
    p.graph.roles[p.objective] = "objective"


def _bounds(p: Problem) -> None:
    BOUND_METHODS[p.options.bounds](p.graph)


def _lint(p: Problem) -> None:
    p.graph.lint()


PIPELINE: list[tuple[str, Callable[[Problem], None]]] = [
    ("domain", _domain),
    ("backward", _backward),
    ("norm", _norm),
    ("resolve", resolve_options),
    ("bounds", _bounds),
    ("passes", run_passes),
    ("lint", _lint),
]


def copy_graph(graph: IRGraph) -> IRGraph:
    """A graph sharing the (immutable) ops but with its own structure and annotations."""
    return IRGraph(g=graph.g.copy(), bounds=dict(graph.bounds), roles=dict(graph.roles),
                   constraints=list(graph.constraints), _counter=graph._counter)


def build_problem(network: Network, domain: Domain, query: Query,
                  options: CompileOptions | None = None, pipeline=PIPELINE) -> Problem:
    """Run the analysis pipeline; the network's own graph is left untouched."""
    if domain.dim != network.n_inputs:
        raise ShapeError(f"the domain has dimension {domain.dim} but the network has "
                         f"{network.n_inputs} inputs")
    if query.output.m != network.n_outputs:
        raise ShapeError(f"the output side has {query.output.m} entries but the network "
                         f"has {network.n_outputs} outputs")
    options = options or CompileOptions()
    for value, table, what in ((options.bounds, BOUND_METHODS, "bounds method"),
                               (options.formulation, FORMULATIONS, "formulation")):
        if value not in table:
            raise QueryError(f"unknown {what} {value!r}; choose from {', '.join(table)}")
    p = Problem(network, domain, query, copy_graph(network.graph), options)
    for name, run in pipeline:
        t0 = time.perf_counter()
        run(p)
        p.timings[name] = time.perf_counter() - t0
    return p


def lower_problem(p: Problem) -> Lowered:
    t0 = time.perf_counter()
    norm = p.query.input_norm
    dual = None if norm.L is not None else {"sum": "l1", "max": "linf"}[norm.reduce]
    low = lower(p.graph, p.objective, name=p.network.name, formulation=p.options.formulation,
                dual_norm=dual)
    p.timings["lower"] = time.perf_counter() - t0
    return low


# ---------------------------------------------------------------------- range queries

def _range_objective(p: Problem) -> None:
    """The objective of a range query is <c, f(x)> itself: no backward pass, no norm."""
    c = p.query.output.fixed
    p.objective = affine(p.graph, [Term(p.network.output, c[None, :].copy())],
                         label="objective <c, f(x)>", stage="forward")
    p.graph.roles[p.objective] = "objective"


def range_pipeline(pipeline=PIPELINE) -> list[tuple[str, Callable[[Problem], None]]]:
    """``pipeline`` for max_x <c, f(x)>: the objective replaces "backward", "norm" is dropped
    (domain, bounds, passes and lint run as for a Lipschitz query)."""
    return [("objective", _range_objective) if name == "backward" else (name, run)
            for name, run in pipeline if name != "norm"]


def build_range_problem(network: Network, domain: Domain, c,
                        options: CompileOptions | None = None) -> Problem:
    """The forward MIP of max over the domain of <c, f(x)> (minimise with -c)."""
    import numpy as np

    query = Query(functional(np.asarray(c, dtype=np.float64)), parse_input_norm("linf"))
    return build_problem(network, domain, query, options, pipeline=range_pipeline())
