"""The Python API: load a network, compile a Lipschitz query, write it or solve it.

    import lipc
    net = lipc.load("examples/classifier_4_16_16_3.onnx")      # or a ModelProto, bytes,
    net = lipc.from_layers([(W1, b1), (W2, b2)])                # weight arrays, a torch module
    res = lipc.solve(net, lipc.LinfBall(x0, 0.1), output=(0, 1), input_norm="linf")
    print(res.value, res.lower, res.upper, res.to_dict())

``solve``, ``compile``, ``estimate`` and ``compare`` take the network and the domain (a spec
string or a Domain object) positionally and everything else by keyword, in one order: the
question (output, input_norm, output_norm), then what the function itself needs, then
options and compile_options.  Each builds one :class:`~lipc.question.question.Question` from
those spellings and hands it down; a Question may also be passed in place of the domain.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Union

from onnx import ModelProto

from .bab.auto import engine_named
from .compiler import entry
from .compiler.pipeline import CompileOptions, Problem
from .errors import LipcError, QueryError
from .estimators import ESTIMATORS, Context
from .frontends import load, network_of
from .frontends.memory import from_layers, from_torch
from .frontends.dsl import DSLQuery, query_question
from .core.network import Network
from .lowering import Lowered
from .question.domain import Domain
from .question.query import Output
from .question.question import Question
from .solvers import SolveOptions
from .verify.ranges import RangeResult, compile_range, range_problem, solve_range
from .verify import settle
from .verify.settle import LipschitzResult, solve_compiled

__all__ = ["load", "from_layers", "from_torch", "problem", "compile", "solve", "solve_compiled",
           "LipschitzResult", "RangeResult", "range_problem", "compile_range", "solve_range",
           "EstimateResult", "Comparison", "Question", "ask", "check_question", "estimate",
           "compare", "solve_query", "compile_query"]


# a network: a file path, an onnx.ModelProto, ONNX bytes, or a loaded Network
Model = Union[Network, str, Path, ModelProto, bytes]
# the domain argument: a spec string, a Domain object, or a whole Question
Asked = Union[Domain, str, Question]


def ask(domain: Asked, output: Output = None, input_norm: str = "linf",
        output_norm: str | None = None) -> Question:
    """The Question of an API call: its keywords, or the Question passed as the domain (then
    the keywords must be left at their defaults, so nothing is silently ignored)."""
    if not isinstance(domain, Question):
        return Question(domain, output, output_norm, input_norm)
    if output is not None or output_norm is not None or input_norm != "linf":
        raise QueryError("a Question carries its output and norms: do not also pass output, "
                         "input_norm or output_norm")
    return domain


def problem(net: Model, domain: Asked, output: Output = None, input_norm: str = "linf",
            compile_options: CompileOptions | None = None, output_norm: str | None = None,
            normalize: bool = False) -> Problem:
    """Build and annotate the IR of a Lipschitz query (nothing lowered yet); see
    lipc.compiler.entry.problem."""
    return entry.problem(net, ask(domain, output, input_norm, output_norm), compile_options,
                         normalize)


def compile(net: Model, domain: Asked, *, output: Output = None,
            input_norm: str = "linf", output_norm: str | None = None,
            out: str | Path | None = None, normalize: bool = False,
            compile_options: CompileOptions | None = None) -> tuple[Problem, Lowered]:
    """Compile a Lipschitz query to a flat MIP: (Problem, Lowered); with ``out``, also write it
    (format from the suffix)."""
    return entry.compile(net, ask(domain, output, input_norm, output_norm), out=out,
                         compile_options=compile_options, normalize=normalize)


def solve(net: Model, domain: Asked, *, output: Output = None, input_norm: str = "linf",
          output_norm: str | None = None, options: SolveOptions | None = None,
          compile_options: CompileOptions | None = None, engine: str = "mip",
          bab=None) -> LipschitzResult:
    """The local Lipschitz constant as a certified interval (LipschitzResult): compiled,
    solved by ``options.solver`` (default the best installed one), the witness verified on
    the original model.  ``engine`` "mip" solves one MIP; "bab" runs branch and bound on
    unstable neurons (lipc.bab, settings ``bab``: a BabOptions); "auto" measures both on the
    query and goes on with the faster (lipc.bab.auto)."""
    question = ask(domain, output, input_norm, output_norm)
    # both engines compile with the objective normalised to unit scale: the unscaled problem of
    # an output of 1e-8 gave a wrong optimum (1.28e-8 for 1.75e-8), and node solvers' absolute
    # tolerances and bab's closing test met a constant of 2e-9 (optimal on [2.09e-9, 5.53e-9]);
    # the time limit covers the compile (bab's unit-cube runs ended ~4 s late without it)
    run = engine_named(engine)          # an unknown engine is an error before any work
    p, low, opts, notes = settle.compiled_within(net, question, options, compile_options)
    return settle.with_notes(run(p, low, opts, bab), notes)


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


def _context(net: Model, question: Question, samples: int, seed: int, options,
             compile_options) -> Context:
    """The estimators' context, its question resolved at once: a malformed question is an
    error before any method runs."""
    ctx = Context(network_of(net), question, samples, seed, options, compile_options)
    ctx.resolve()
    return ctx


def _estimate(ctx, method: str) -> EstimateResult:
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


def check_question(net: Model, domain: Asked, output: str | None = None,
                   input_norm: str = "linf", output_norm: str | None = None) -> None:
    """Raise the LipcError of a malformed question (domain, output, norms) about ``net`` without
    compiling or solving anything: batch runs (lipc track) check once before fanning out."""
    ask(domain, output, input_norm, output_norm).resolve(network_of(net))


def estimate(net: Model, domain: Asked, *, output: Output = None,
             input_norm: str = "linf", output_norm: str | None = None, method: str,
             samples: int = 1000, seed: int = 0, options: SolveOptions | None = None,
             compile_options: CompileOptions | None = None) -> EstimateResult:
    """Estimate the local Lipschitz constant with one method of lipc.estimators.ESTIMATORS
    (randomlb, naiveub, fastlip, liplp, lipmip, clever,
    seqlip, lipsdp)."""
    return _estimate(_context(net, ask(domain, output, input_norm, output_norm), samples, seed,
                              options, compile_options), method)


def compare(net: Model, domain: Asked, *, output: Output = None,
            input_norm: str = "linf", output_norm: str | None = None,
            methods: list[str] | str | None = None, samples: int = 1000, seed: int = 0,
            options: SolveOptions | None = None,
            compile_options: CompileOptions | None = None) -> Comparison:
    """Run several estimators (default: all) on the same question; relative errors against
    lipmip's exact value.  With the default list a method that raises a LipcError (e.g. a
    missing optional extra) gives a row with value None and ``details["error"]``."""
    default = methods is None
    if methods is None:
        methods = list(ESTIMATORS)
    elif isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    question = ask(domain, output, input_norm, output_norm)
    ctx = _context(net, question, samples, seed, options, compile_options)
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
    return Comparison(exact, first.input_norm if first else str(question.input_norm),
                      first.output if first else "", ctx.domain.description, rows)


# ---------------------------------------------------------------------- lipc programs

def solve_query(q: DSLQuery, domain=None, options=None, compile_options=None, input_norm=None):
    """Solve one query: a LipschitzResult (lipschitz) or a RangeResult (maximize/minimize)."""
    question = query_question(q, domain, input_norm)
    if q.kind == "lipschitz":
        return settle.solve(q.network, question, options, compile_options=compile_options)
    return solve_range(q.network, question.domain, None, q.kind, options, compile_options)


def compile_query(q: DSLQuery, out=None, domain=None, compile_options=None, input_norm=None):
    """Compile one query to a flat MIP (and write it to ``out``): (Problem, Lowered)."""
    question = query_question(q, domain, input_norm)
    if q.kind == "lipschitz":
        return entry.compile(q.network, question, out=out, compile_options=compile_options)
    return compile_range(q.network, question.domain, None, q.kind, out=out,
                         compile_options=compile_options)
