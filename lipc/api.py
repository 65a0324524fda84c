"""The Python API: load a network, compile a Lipschitz query, write it or solve it.

    import lipc
    net = lipc.load("examples/classifier_4_16_16_3.onnx")
    res = lipc.solve(net, domain="linf:examples/x0_4.npy:0.1", output="0-1", input_norm="linf")
    print(res.value, res.lower, res.upper)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .solvers import SolveOptions, solve_mip
from .compiler import CompileOptions, Problem, build_problem, lower_problem
from .domain import Domain, parse_domain
from .errors import LipcError
from .lower import Lowered
from .network import Network
from .onnx_frontend import load_onnx
from .query import Query
from .witness import Witness, verify

FRONTENDS = {".onnx": load_onnx}


def _load_lipc(path: str | Path, output_node: str | None = None) -> Network:
    """A lipc program (.lipc): its `output` network, or the query named ``output_node``."""
    from .dsl import load_network
    return load_network(path, output_node)


FRONTENDS[".lipc"] = _load_lipc

# relative disagreement tolerated between the solver's optimum and the verified value
AGREEMENT = 1e-6


def _agrees(verified: float | None, incumbent: float) -> bool:
    """The verified value reproduces the solver's objective (to AGREEMENT relative)."""
    return verified is not None and \
        abs(verified - incumbent) <= AGREEMENT * max(1.0, abs(verified))


def load(path: str | Path, output_node: str | None = None) -> Network:
    """Load a network file by its suffix; ``output_node`` cuts an ONNX graph at that tensor."""
    suffix = Path(path).suffix.lower()
    if suffix not in FRONTENDS:
        raise LipcError(f"cannot load {path}: unknown model format {suffix!r}; "
                        f"supported: {', '.join(FRONTENDS)}")
    if output_node is not None:
        return FRONTENDS[suffix](path, output_node=output_node)
    return FRONTENDS[suffix](path)


def _network(net: Network | str | Path) -> Network:
    return net if isinstance(net, Network) else load(net)


def problem(net: Network | str | Path, domain: Domain | str, output: str | None = None,
            input_norm: str = "linf", compile_options: CompileOptions | None = None,
            output_norm: str | None = None) -> Problem:
    """Build and annotate the IR of a Lipschitz query (nothing lowered yet).

    ``output`` selects one scalar function <c, f>; ``output_norm`` instead asks for the
    Lipschitz constant of the vector f under that norm (linf, l1, margin, margin:T).
    """
    network = _network(net)
    dom = domain if isinstance(domain, Domain) else parse_domain(domain, network.n_inputs)
    query = Query.make(network.n_inputs, network.n_outputs, output, input_norm, output_norm,
                       center_output=lambda: network.reference(dom.center[None, :])[0])
    return build_problem(network, dom, query, compile_options)


def compile(net: Network | str | Path, domain: Domain | str, output: str | None = None,
            input_norm: str = "linf", out: str | Path | None = None,
            compile_options: CompileOptions | None = None,
            output_norm: str | None = None) -> tuple[Problem, Lowered]:
    """Compile a query to a flat MIP; with ``out``, also write it (format from the suffix)."""
    p = problem(net, domain, output, input_norm, compile_options, output_norm)
    low = lower_problem(p)
    if out is not None:
        from .emit import write
        write(low.mip, out)
    return p, low


@dataclass
class LipschitzResult:
    """A Lipschitz constant as a certified interval: never a bare number.

    ``value`` is set only when the solve proved optimality *and* the verified lower bound
    agrees with the solver's optimum; otherwise read ``lower`` and ``upper``.
    """

    status: str
    value: float | None
    lower: float | None           # verified: a true gradient norm at an interior point
    upper: float | None           # the solver's dual bound (valid up to its tolerances)
    incumbent: float | None       # the solver's own objective value
    gap: float | None
    seconds: float
    nodes: int | None
    solver: str
    input_norm: str
    output: str                   # the functional c, or the output norm
    domain: str
    stats: dict = field(default_factory=dict)
    witness: Witness | None = None
    message: str = ""
    # the solver's column values (FlatMIP order) behind ``incumbent``: for independent checks
    # of the solution against the written file (lipc bench); not part of the report
    columns: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("columns")
        return d


def _settle(outcome, verified: float | None):
    """(status, value, upper bound, message) of a maximisation from the solver's outcome and
    the value verified on the original model: a claimed optimum counts only when the verified
    value reproduces it; the bound never sits below the verified value."""
    status, value, bound, message = outcome.status, None, outcome.bound, ""
    if status == "optimal":
        if _agrees(verified, outcome.incumbent):
            value = verified
            bound = max(bound, verified)
        else:
            status = "unverified"
            message = ("the solver's optimum could not be reproduced on the original network "
                       f"(verified {verified}, solver {outcome.incumbent}); reporting the interval")
    if bound is not None and verified is not None and bound < verified:
        bound = verified
    return status, value, bound, "; ".join(outcome.notes + ([message] if message else []))


def _describe_output(p: Problem) -> str:
    out = p.query.output
    if out.fixed is not None:
        return f"<c, f> with c = {out.fixed.tolist()}"
    return f"f under the {out.name} output norm"


def _relative_gap(lo: float | None, hi: float | None) -> float | None:
    if lo is None or hi is None:
        return None
    return max(0.0, hi - lo) / max(abs(hi), 1e-12)


def solve(net: Network | str | Path, domain: Domain | str, output: str | None = None,
          input_norm: str = "linf", options: SolveOptions | None = None,
          compile_options: CompileOptions | None = None,
          output_norm: str | None = None, engine: str = "mip", bab=None) -> LipschitzResult:
    """Compute the local Lipschitz constant with a MIP solver (``options.solver``, default the
    best installed one) and verify the witness.  ``engine`` "bab" runs branch and bound
    (lipc.bab, settings ``bab``: a BabOptions), "auto" chooses by unstable-neuron count."""
    p, low = compile(net, domain, output, input_norm, compile_options=compile_options,
                     output_norm=output_norm)
    if engine != "mip":
        from .bab.driver import choose_engine, solve_bab
        if choose_engine(p, engine) == "bab":
            return solve_bab(p, options, bab, low=low)
    return solve_compiled(p, low, options)


def solve_compiled(p: Problem, low: Lowered, options: SolveOptions | None = None
                   ) -> LipschitzResult:
    """Solve an already compiled query (e.g. one just written to a file) and verify it."""
    opts = options or SolveOptions()
    # the primal side (lipc.bab.primal): a verified lower bound whatever the solver manages,
    # and its point as the solver's MIP start
    from .bab.primal import search
    primal = search(p, low, seed=opts.seed)
    if opts.start is None and primal.start is not None:
        opts = replace(opts, start=primal.start)

    def accept(o) -> bool:          # a claimed optimum must be reproduced by the verified witness
        o.check = verify(p, low, o.x)
        return _agrees(o.check.value, o.incumbent)

    # infeasible/unbounded answers (numerical failures) are retried inside solve_mip: other
    # tolerances, then other solvers; it raises SolverError when nothing works
    outcome = solve_mip(low.mip, opts, accept=accept)
    witness = outcome.check if outcome.check is not None else (
        verify(p, low, outcome.x) if outcome.x is not None else None)
    if primal.value is not None and (witness is None or witness.value is None
                                     or witness.value < primal.value):
        witness = primal.witness
    lower = witness.value if witness is not None else None
    status, value, upper, message = _settle(outcome, lower)
    mip = low.mip
    stats = dict(p.stats(), columns=mip.n_cols, rows=mip.n_rows, nonzeros=mip.nnz,
                 binaries=mip.meta["binaries"], max_big_m=mip.meta["max_big_m"],
                 timings={k: round(v, 6) for k, v in p.timings.items()},
                 solver_settings=outcome.settings,
                 primal=dict(value=primal.value, seconds=round(primal.seconds, 6),
                             points=primal.points))
    return LipschitzResult(status, value, lower, upper, outcome.incumbent,
                           _relative_gap(lower, upper), outcome.seconds, outcome.nodes,
                           outcome.solver, p.query.input_norm.name, _describe_output(p),
                           p.domain.description, stats, witness, message, outcome.x)


# ---------------------------------------------------------------------- output ranges

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
        from .errors import QueryError
        raise QueryError(f"unknown sense {sense!r}; use maximize or minimize")
    sign = _SENSES[key]
    return ("maximize" if sign > 0 else "minimize"), sign


def range_problem(net: Network | str | Path, domain: Domain | str, output: str | None = None,
                  sense: str = "maximize",
                  compile_options: CompileOptions | None = None) -> Problem:
    """The forward MIP of max (or min) over the domain of the scalar function ``output``
    (spelled as for :func:`solve`; omitted for a single-output network)."""
    from .compiler import build_range_problem
    from .query import parse_output
    network = _network(net)
    dom = domain if isinstance(domain, Domain) else parse_domain(domain, network.n_inputs)
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
        from .emit import write
        write(low.mip, out)
    return p, low


def _range_point(p: Problem, low: Lowered, x_sol):
    """A point of the domain near the solver's x and the objective there on the reference
    evaluator: (x, <sign c, f(x)>), or (None, None)."""
    import numpy as np

    dom = p.domain
    x = (low.value_of(p.network.input, np.asarray(x_sol)) if p.network.input in low.values
         else dom.center)                  # an objective that does not depend on the input
    x = np.clip(x, dom.lo, dom.hi)
    if dom.n_rows and not dom.contains(x, tol=0.0):
        from .chebyshev import deepest_point
        x0, radius = deepest_point(np.zeros((0, dom.dim)), np.zeros(0), dom)
        if x0 is None or not dom.contains(x0, tol=0.0):
            return None, None
        t_in, t_out = 0.0, 1.0                 # bisect towards the domain's deepest point
        for _ in range(50):
            t = (t_in + t_out) / 2
            t_in, t_out = (t, t_out) if dom.contains(x0 + t * (x - x0), tol=0.0) else (t_in, t)
        x = x0 + t_in * (x - x0)
    value = float(p.query.output.fixed @ p.network.reference(x[None, :])[0])
    return x, value


def solve_range(net: Network | str | Path, domain: Domain | str, output: str | None = None,
                sense: str = "maximize", options: SolveOptions | None = None,
                compile_options: CompileOptions | None = None) -> RangeResult:
    """max (or min) of a scalar function of the outputs over the domain: the forward MIP alone,
    verified by re-evaluating the original model at the solver's point."""
    name, sign = _sense(sense)
    opts = options or SolveOptions()
    p, low = compile_range(net, domain, output, name, compile_options=compile_options)

    def accept(o) -> bool:          # a claimed optimum must be attained at a verified point
        o.check = _range_point(p, low, o.x)
        return _agrees(o.check[1], o.incumbent)

    outcome = solve_mip(low.mip, opts, accept=accept)
    x, v = outcome.check if outcome.check is not None else (
        _range_point(p, low, outcome.x) if outcome.x is not None else (None, None))
    status, value, bound, message = _settle(outcome, v)
    flip = (lambda t: None if t is None else sign * t + 0.0)     # the query's sense (no -0.0)
    lower, upper = (v, bound) if sign > 0 else (flip(bound), flip(v))
    mip = low.mip
    stats = dict(p.stats(), columns=mip.n_cols, rows=mip.n_rows, nonzeros=mip.nnz,
                 binaries=mip.meta["binaries"], max_big_m=mip.meta["max_big_m"],
                 timings={k: round(t, 6) for k, t in p.timings.items()})
    c = sign * p.query.output.fixed
    what = "f" if c.size == 1 and c[0] == 1.0 else f"<c, f> with c = {c.tolist()}"
    return RangeResult(status, name, flip(value), lower, upper, flip(outcome.incumbent),
                       _relative_gap(lower, upper),
                       outcome.seconds, outcome.nodes, outcome.solver, what,
                       p.domain.description, None if x is None else x.tolist(), stats, message)


# ---------------------------------------------------------------------- estimators (issue 6)

@dataclass
class EstimateResult:
    """One estimator's answer: ``guarantee`` says how to read ``value`` (lower / upper bound,
    exact, or heuristic)."""

    method: str
    guarantee: str
    value: float | None
    seconds: float
    input_norm: str
    output: str
    domain: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Comparison:
    """Estimators side by side (the paper's Table 1); ``relative_error`` is (value - exact) /
    exact, against the ``lipmip`` value when it was run and proved optimal."""

    exact: float | None
    input_norm: str
    output: str
    domain: str
    rows: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _context(net, domain, output, input_norm, output_norm, samples, seed, options,
             compile_options):
    from .estimators import Context
    network = _network(net)
    dom = domain if isinstance(domain, Domain) else parse_domain(domain, network.n_inputs)
    return Context(network, dom, output, input_norm, output_norm, samples, seed, options,
                   compile_options)


def _estimate(ctx, method: str) -> EstimateResult:
    import time

    from .errors import QueryError
    from .estimators import ESTIMATORS
    key = str(method).strip().lower()
    if key not in ESTIMATORS:
        raise QueryError(f"unknown estimator {method!r}; choose from {', '.join(ESTIMATORS)}")
    fn, guarantee = ESTIMATORS[key]
    q = ctx.query
    out = (f"<c, f> with c = {q.output.fixed.tolist()}" if q.output.fixed is not None
           else f"f under the {q.output.name} output norm")
    t0 = time.perf_counter()
    value, details = fn(ctx)
    return EstimateResult(key, guarantee, None if value is None else float(value),
                          time.perf_counter() - t0, q.input_norm.name, out,
                          ctx.domain.description, details)


def check_question(net: Network | str | Path, domain: Domain | str, output: str | None = None,
                   input_norm: str = "linf", output_norm: str | None = None) -> None:
    """Raise the LipcError of a malformed question (domain, output, norms) about ``net`` without
    compiling or solving anything: batch runs (lipc track) check once before fanning out."""
    _context(net, domain, output, input_norm, output_norm, 1, 0, None, None).query


def estimate(net: Network | str | Path, domain: Domain | str, method: str,
             output: str | None = None, input_norm: str = "linf",
             output_norm: str | None = None, samples: int = 1000, seed: int = 0,
             options: SolveOptions | None = None,
             compile_options: CompileOptions | None = None) -> EstimateResult:
    """Estimate the local Lipschitz constant with one method of lipc.estimators.ESTIMATORS
    (randomlb, naiveub, fastlip, liplp, lipmip, clever,
    seqlip, lipsdp)."""
    return _estimate(_context(net, domain, output, input_norm, output_norm, samples, seed,
                              options, compile_options), method)


def compare(net: Network | str | Path, domain: Domain | str,
            methods: list[str] | str | None = None, output: str | None = None,
            input_norm: str = "linf", output_norm: str | None = None, samples: int = 1000,
            seed: int = 0, options: SolveOptions | None = None,
            compile_options: CompileOptions | None = None) -> Comparison:
    """Run several estimators (default: all) on the same question; relative errors against
    lipmip's exact value.  With the default list a method that raises a LipcError (e.g. a
    missing optional extra) gives a row with value None and ``details["error"]``."""
    from .errors import LipcError
    from .estimators import ESTIMATORS
    default = methods is None
    if methods is None:
        methods = list(ESTIMATORS)
    elif isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    ctx = _context(net, domain, output, input_norm, output_norm, samples, seed, options,
                   compile_options)
    results = []
    for m in methods:
        try:
            results.append(_estimate(ctx, m))
        except LipcError as e:
            if not default:                # a method asked for by name: its error is the answer
                raise
            # the default list: a method that cannot answer (a missing optional extra, an
            # unsupported norm or network) is a row without a value, with the reason
            q = ctx.query
            results.append(EstimateResult(m, ESTIMATORS[m][1], None, 0.0, q.input_norm.name,
                                          "", ctx.domain.description, {"error": str(e)}))
    exact = next((r.value for r in results if r.method == "lipmip"
                  and r.details.get("status") == "optimal"), None)
    rows = []
    for r in results:
        rel = (None if exact is None or r.value is None
               else (r.value - exact) / max(abs(exact), 1e-300))
        rows.append(dict(method=r.method, guarantee=r.guarantee, value=r.value,
                         seconds=r.seconds, relative_error=rel, details=r.details))
    first = results[0] if results else None
    return Comparison(exact, first.input_norm if first else str(input_norm),
                      first.output if first else "", ctx.domain.description, rows)
