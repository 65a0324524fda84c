"""The compile stage's entry: a network (object or file) and a :class:`Question` (domain,
output, norms) to an annotated :class:`Problem`, and to the lowered flat MIP (written out when
asked)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.ir import Affine, Term
from ..core.network import Network
from ..core.sparse import CSR
from ..emit import write
from ..frontends import network_of
from ..lowering import Lowered
from ..question.domain import Domain
from ..question.query import Query
from ..question.question import Question
from .pipeline import CompileOptions, Problem, build_problem, copy_graph, lower_problem


def problem(net: Network | str | Path, question: Question,
            compile_options: CompileOptions | None = None, normalize: bool = False) -> Problem:
    """Build and annotate the IR of a Lipschitz query (nothing lowered yet).

    The question's ``output`` selects one scalar function <c, f>; its ``output_norm`` instead
    asks for the Lipschitz constant of the vector f under that norm (linf, l1, margin, margin:T).
    ``normalize`` scales a fixed c by an exact power of two (``Problem.scale_exp``): to max
    |c_i| in [1, 2), then, when the bound passes' certified bound of the objective is far from
    1, by that bound's power of two; so the solver's absolute tolerances never meet a tiny or
    huge objective only because of the output's units or a scaled layer.  An output norm's
    seed set C stays the unit ball: the network's last layer is scaled instead
    (``_last_layer_scaled``).  ``solve`` undoes either exactly.
    """
    network = network_of(net)
    dom, query = question.resolve(network)
    c0 = query.output.fixed
    if not normalize or (c0 is not None and not np.any(c0)):
        return build_problem(network, dom, query, compile_options)
    if c0 is None:
        return _last_layer_scaled(network, dom, query, compile_options)
    exp = _exponent(np.max(np.abs(c0)))                 # first the units of c ...
    p = _scaled_problem(network, dom, query, exp, compile_options)
    bound = certified_upper(p) if p is not None else None
    if bound is not None and bound > 0 and abs(_exponent(bound)) > 2:
        # ... then the scale of the whole backward pass (e.g. a last layer of 1e-6): the
        # certified bound of the objective tells it; rebuild with C scaled to bring it near 1
        q = _scaled_problem(network, dom, query, exp + _exponent(bound), compile_options)
        p = q if q is not None else p
    return p if p is not None else build_problem(network, dom, query, compile_options)


def _exponent(v: float) -> int:
    """e with v / 2**e in [1, 2)."""
    return int(np.frexp(v)[1]) - 1


def _scaled_problem(network: Network, dom: Domain, query: Query, exp: int,
                    compile_options: CompileOptions | None) -> Problem | None:
    """The problem for the functional c / 2**exp (``scale_exp`` = exp), or None when that
    scaling is not exact."""
    out = query.output.scaled(-exp)
    if out is None:
        return None
    p = build_problem(network, dom, replace(query, output=out), compile_options)
    p.scale_exp = exp
    return p


def _last_layer_scaled(network: Network, dom: Domain, query: Query,
                       compile_options: CompileOptions | None) -> Problem:
    """An output norm's problem with the network's LAST affine layer (weights and bias) times
    2**-e, e the exponent of the certified bound of the objective (``scale_exp`` = e).

    Scaling the seed set C instead made its own variables tiny or huge against the solver's
    tolerances; scaling the last layer keeps C the unit ball and the whole backward pass near
    unit scale.  Scaling by a power of two is exact, so the constant scales by exactly 2**-e.
    """
    p = build_problem(network, dom, query, compile_options)
    bound = certified_upper(p)
    if bound is None or not bound > 0 or abs(_exponent(bound)) <= 2:
        return p
    exp = _exponent(bound)
    scaled = scaled_output_layer(network, -exp)
    if scaled is None:
        return p
    q = build_problem(scaled, dom, query, compile_options)
    q.scale_exp = exp
    return q


def scaled_output_layer(network: Network, exp: int) -> Network | None:
    """The network with its output affine layer times 2**exp, exactly, and its reference
    evaluator times the same power of two (still the ORIGINAL model, so the witness stays
    certified on it); None when the output is not an affine node or the scaling is not exact
    (an underflow or overflow)."""
    op = network.graph.op(network.output)
    if not isinstance(op, Affine):
        return None
    terms = tuple(Term(t.src, _ldexp_exact(t.weight, exp)) for t in op.terms)
    bias = _ldexp_exact(op.bias, exp)
    if bias is None or any(t.weight is None for t in terms):
        return None
    graph = copy_graph(network.graph)
    graph.g.nodes[network.output]["op"] = Affine(terms, bias)
    ref = network.reference
    return replace(network, graph=graph,
                   reference=lambda X: np.ldexp(np.asarray(ref(X), dtype=np.float64), exp))


def _ldexp_exact(w, exp: int):
    """w * 2**exp (dense or CSR) when that is exact (it undoes to w), else None."""
    if isinstance(w, CSR):
        data = _ldexp_exact(w.data, exp)
        return None if data is None else w.with_data(data)
    w = np.asarray(w, dtype=np.float64)
    out = np.ldexp(w, exp)
    return out if np.array_equal(np.ldexp(out, -exp), w) else None


def certified_upper(p: Problem) -> float | None:
    """The bound passes' rigorous upper bound of the objective (outward-rounded)."""
    bd = p.graph.bounds.get(p.objective)
    if bd is None or not np.all(np.isfinite(bd.hi)):
        return None
    return float(np.max(bd.hi))


def compile(net: Network | str | Path, question: Question, out: str | Path | None = None,
            compile_options: CompileOptions | None = None, normalize: bool = False
            ) -> tuple[Problem, Lowered]:
    """Compile a question to a flat MIP; with ``out``, also write it (format from the
    suffix)."""
    p = problem(net, question, compile_options, normalize)
    low = lower_problem(p)
    if out is not None:
        write(low.mip, out)
    return p, low
