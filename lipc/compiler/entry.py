"""The compile stage's entry: a network (object or file) and the question's spellings (domain,
output, norms) to an annotated :class:`Problem`, and to the lowered flat MIP (written out when
asked)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.network import Network
from ..emit import write
from ..frontends import network_of
from ..lowering import Lowered
from ..question.domain import Domain, domain_of
from ..question.query import Query
from .pipeline import CompileOptions, Problem, build_problem, lower_problem


def problem(net: Network | str | Path, domain: Domain | str, output: str | None = None,
            input_norm: str = "linf", compile_options: CompileOptions | None = None,
            output_norm: str | None = None, normalize: bool = False) -> Problem:
    """Build and annotate the IR of a Lipschitz query (nothing lowered yet).

    ``output`` selects one scalar function <c, f>; ``output_norm`` instead asks for the
    Lipschitz constant of the vector f under that norm (linf, l1, margin, margin:T).
    ``normalize`` scales a fixed c by an exact power of two (``Problem.scale_exp``): to max
    |c_i| in [1, 2), then, when the bound passes' certified bound of the objective is far from
    1, by that bound's power of two; so the solver's absolute tolerances never meet a tiny or
    huge objective only because of the output's units or a scaled layer.  ``solve`` undoes
    it exactly.
    """
    network = network_of(net)
    dom = domain_of(domain, network.n_inputs)
    query = Query.make(network.n_inputs, network.n_outputs, output, input_norm, output_norm,
                       center_output=lambda: network.reference(dom.center[None, :])[0])
    c0 = query.output.fixed
    if not normalize or c0 is None or not np.any(c0):
        # an output norm's seed set C stays the unit ball: scaling it would make the seed
        # variables themselves tiny or huge against the solver's tolerances
        return build_problem(network, dom, query, compile_options)
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


def certified_upper(p: Problem) -> float | None:
    """The bound passes' rigorous upper bound of the objective (outward-rounded)."""
    bd = p.graph.bounds.get(p.objective)
    if bd is None or not np.all(np.isfinite(bd.hi)):
        return None
    return float(np.max(bd.hi))


def compile(net: Network | str | Path, domain: Domain | str, output: str | None = None,
            input_norm: str = "linf", out: str | Path | None = None,
            compile_options: CompileOptions | None = None,
            output_norm: str | None = None, normalize: bool = False
            ) -> tuple[Problem, Lowered]:
    """Compile a query to a flat MIP; with ``out``, also write it (format from the suffix)."""
    p = problem(net, domain, output, input_norm, compile_options, output_norm, normalize)
    low = lower_problem(p)
    if out is not None:
        write(low.mip, out)
    return p, low
