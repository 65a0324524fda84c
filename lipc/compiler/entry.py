"""The compile stage's entry: a network (object or file) and the question's spellings (domain,
output, norms) to an annotated :class:`Problem`, and to the lowered flat MIP (written out when
asked)."""
from __future__ import annotations

from pathlib import Path

from ..core.network import Network
from ..emit import write
from ..frontends import network_of
from ..lowering import Lowered
from ..question.domain import Domain, parse_domain
from ..question.query import Query
from .pipeline import CompileOptions, Problem, build_problem, lower_problem


def problem(net: Network | str | Path, domain: Domain | str, output: str | None = None,
            input_norm: str = "linf", compile_options: CompileOptions | None = None,
            output_norm: str | None = None) -> Problem:
    """Build and annotate the IR of a Lipschitz query (nothing lowered yet).

    ``output`` selects one scalar function <c, f>; ``output_norm`` instead asks for the
    Lipschitz constant of the vector f under that norm (linf, l1, margin, margin:T).
    """
    network = network_of(net)
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
        write(low.mip, out)
    return p, low
