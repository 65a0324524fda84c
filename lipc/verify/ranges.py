"""The maximum or minimum of a scalar function of the outputs over the domain (the lipc language's
``maximize`` / ``minimize`` queries), solved and settled like a Lipschitz constant: the value at a
verified point of the domain against the solver's bound."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..compiler.entry import certified_upper, scaled_output_layer
from ..compiler.pipeline import CompileOptions, Problem, build_range_problem, lower_problem
from ..core.network import Network
from ..emit import write
from ..errors import QueryError
from ..frontends import network_of
from ..lowering import Lowered
from ..question.domain import Domain, domain_of
from ..question.query import parse_output
from ..solvers import SolveOptions, solve_mip
from .settle import Best, close, confirmed, relative_gap, settle_outcome
from ..question.chebyshev import deepest_point

_SENSES = {"maximize": 1.0, "max": 1.0, "minimize": -1.0, "min": -1.0}


@dataclass
class RangeResult:
    """The maximum (or minimum) of a scalar function <c, f(x)> over the domain, as an interval.

    For a maximum ``lower`` is the function at a point ``x`` of the domain, re-evaluated on the
    original model (verified), and ``upper`` the solver's bound; for a minimum, ``lower`` is the
    solver's bound and ``upper`` the verified value.  ``value`` only when both agree at optimality.
    """

    status: str
    sense: str                    # "maximize" or "minimize"
    value: float | None
    lower: float | None
    upper: float | None
    incumbent: float | None       # the solver's own objective value (in the query's sense)
    gap: float | None
    seconds: float
    nodes: int | None
    solver: str
    output: str
    domain: str
    x: list[float] | None = None  # the verified point
    stats: dict = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _sense(sense: str) -> tuple[str, float]:
    key = str(sense).strip().lower()
    if key not in _SENSES:
        raise QueryError(f"unknown sense {sense!r}; use maximize or minimize")
    sign = _SENSES[key]
    return ("maximize" if sign > 0 else "minimize"), sign


def range_problem(net: Network | str | Path, domain: Domain | str, output: str | None = None,
                  sense: str = "maximize",
                  compile_options: CompileOptions | None = None) -> Problem:
    """The forward MIP of max (or min) over the domain of the scalar function ``output``
    (spelled as for :func:`solve`; omitted for a single-output network)."""
    network = network_of(net)
    dom = domain_of(domain, network.n_inputs)
    _, sign = _sense(sense)
    c = parse_output(output, network.n_outputs)
    return build_range_problem(network, dom, sign * c, compile_options)


def compile_range(net: Network | str | Path, domain: Domain | str, output: str | None = None,
                  sense: str = "maximize", out: str | Path | None = None,
                  compile_options: CompileOptions | None = None) -> tuple[Problem, Lowered]:
    """Compile a range query; the written file's optimum is the max (or min) itself."""
    p = range_problem(net, domain, output, sense, compile_options)
    low = lower_problem(p)
    if out is not None:
        write(low.mip, out)
    return p, low


class RangePoint(NamedTuple):
    """A verified point of a range query: x in the domain and <sign c, f(x)> on the reference
    evaluator (both None when the solver's point could not be brought into the domain)."""

    x: np.ndarray | None
    value: float | None


def _range_point(p: Problem, low: Lowered, x_sol) -> RangePoint:
    """A point of the domain near the solver's x and the objective there on the reference
    evaluator."""

    dom = p.domain
    x = (low.value_of(p.network.input, np.asarray(x_sol)) if p.network.input in low.values
         else dom.center)                  # an objective that does not depend on the input
    x = np.clip(x, dom.lo, dom.hi)
    if dom.n_rows and not dom.contains(x, tol=0.0):
        x0, radius = deepest_point(np.zeros((0, dom.dim)), np.zeros(0), dom)
        if x0 is None or not dom.contains(x0, tol=0.0):
            return RangePoint(None, None)
        t_in, t_out = 0.0, 1.0                 # bisect towards the domain's deepest point
        for _ in range(50):
            t = (t_in + t_out) / 2
            t_in, t_out = (t, t_out) if dom.contains(x0 + t * (x - x0), tol=0.0) else (t_in, t)
        x = x0 + t_in * (x - x0)
    value = float(p.query.output.fixed @ p.network.reference(x[None, :])[0])
    return RangePoint(x, value)


def _normalized(p: Problem, compile_options: CompileOptions | None) -> Problem:
    """The range problem with the network's last layer times 2**-e (exact; ``scale_exp`` = e),
    e the exponent of the bound passes' bound of |<c, f>|, when that is far from 1: a
    maximum of 1e-8 is below the solvers' absolute tolerances (HiGHS and SCIP proved a
    maximum of -1.4823e-8 where f reaches -1.4177e-8; the soundness fuzz)."""
    bd = p.graph.bounds.get(p.objective)
    top = None if bd is None else float(np.max(np.maximum(abs(bd.lo), abs(bd.hi))))
    if top is None or not np.isfinite(top) or not top > 0:
        return p
    exp = int(np.frexp(top)[1]) - 1
    scaled = scaled_output_layer(p.network, -exp) if abs(exp) > 2 else None
    if scaled is None:
        return p
    q = build_range_problem(scaled, p.domain, p.query.output.fixed, compile_options)
    q.scale_exp = exp
    return q


def solve_range(net: Network | str | Path, domain: Domain | str, output: str | None = None,
                sense: str = "maximize", options: SolveOptions | None = None,
                compile_options: CompileOptions | None = None) -> RangeResult:
    """max (or min) of a scalar function of the outputs over the domain: the forward MIP alone,
    verified by re-evaluating the original model at the solver's point."""
    name, sign = _sense(sense)
    opts = options or SolveOptions()
    p = _normalized(range_problem(net, domain, output, name, compile_options), compile_options)
    low = lower_problem(p)

    best = Best()

    def accept(o) -> bool:          # a claimed optimum must be attained at a verified point
        o.check = best.offer(_range_point(p, low, o.x))
        return close(o.check.value, o.incumbent)

    def point_of(o) -> RangePoint:
        if o.check is not None:
            return o.check
        return _range_point(p, low, o.x) if o.x is not None else RangePoint(None, None)

    outcome = solve_mip(low.mip, opts, accept=accept)
    best.offer(point_of(outcome))
    x, v = confirmed(low, opts, outcome, best.point or RangePoint(None, None), accept, point_of)
    status, value, bound, message = settle_outcome(outcome, v, certified_upper(p),
                                                   user_gap=opts.gap)
    up = (lambda t: None if t is None else float(np.ldexp(t, p.scale_exp)))  # model's units
    flip = (lambda t: None if t is None else sign * t + 0.0)     # the query's sense (no -0.0)
    value, v, bound, incumbent = up(value), up(v), up(bound), up(outcome.incumbent)
    lower, upper = (v, bound) if sign > 0 else (flip(bound), flip(v))
    mip = low.mip
    stats = dict(p.stats(), columns=mip.n_cols, rows=mip.n_rows, nonzeros=mip.nnz,
                 binaries=mip.meta["binaries"], max_big_m=mip.meta["max_big_m"],
                 timings={k: round(t, 6) for k, t in p.timings.items()})
    c = sign * p.query.output.fixed
    what = "f" if c.size == 1 and c[0] == 1.0 else f"<c, f> with c = {c.tolist()}"
    return RangeResult(status, name, flip(value), lower, upper, flip(incumbent),
                       relative_gap(lower, upper),
                       outcome.seconds, outcome.nodes, outcome.solver, what,
                       p.domain.description, None if x is None else x.tolist(), stats, message)
