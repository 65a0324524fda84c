"""The one question asked of a network: the input domain, the output side (one scalar function
<c, f> or a norm on the output vector) and the input norm.

The API, the command line, the lipc language, the estimators, ``lipc track`` and bench
manifests all hold a :class:`Question` as the user spelled it (strings from a flag or a file,
or objects from Python); :meth:`Question.resolve` is the one place those spellings become a
:class:`~lipc.question.domain.Domain` and a :class:`~lipc.question.query.Query` for a given
network.  Adding a field to the question is one edit here.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import partial
from pathlib import Path

from ..core.network import Network
from ..errors import DomainError
from .domain import Domain, domain_of
from .norms import InputNorm
from .query import Output, Query, output_name


@dataclass(frozen=True, eq=False)
class Question:
    """Domain (a spec string or a Domain object; None: given later, e.g. by ``--domain`` or
    a program's declaration), ``output`` (a selector: ``3``, ``0-1``, weights, an int, a pair,
    an array) or ``output_norm`` (linf, l1, margin, margin:T), and ``input_norm`` (a spelling
    or an InputNorm)."""

    domain: Domain | str | None = None
    output: Output = None
    output_norm: str | None = None
    input_norm: str | InputNorm = "linf"

    def resolve(self, network: Network, base: Path | None = None) -> tuple[Domain, Query]:
        """The Domain and Query of this question about ``network``; ``base`` is the folder
        that relative file names in the spellings (.npy files) are read from."""
        if self.domain is None:
            raise DomainError("the question has no domain: pass one (--domain box:0:1, or a "
                              "lipc.Box / LinfBall / L1Ball / Polytope)")
        dom = domain_of(self.domain, network.n_inputs, base)
        query = Query.make(network.n_inputs, network.n_outputs, self.output, self.input_norm,
                           self.output_norm,
                           center_output=lambda: network.reference(dom.center[None, :])[0],
                           base=base)
        return dom, query

    def with_domain(self, domain: Domain | str | None) -> "Question":
        """The same question over ``domain`` (unchanged when ``domain`` is None)."""
        return self if domain is None else replace(self, domain=domain)

    def to_dict(self) -> dict:
        """The question as plain text fields (records, JSON, resume keys): a domain object by
        its description, an output selector by its spelling, a norm by its name."""
        return dict(domain=_domain_text(self.domain), output=_output_text(self.output),
                    input_norm=_norm_text(self.input_norm), output_norm=self.output_norm)


def _domain_text(domain) -> str | None:
    return domain.description if isinstance(domain, Domain) else domain


def _output_text(output: Output) -> str | None:
    return output if output is None or isinstance(output, str) else output_name(output)


def _norm_text(norm) -> str:
    return norm.name if isinstance(norm, InputNorm) else norm


def question_fields(record) -> dict:
    """The Question fields of a flat record (an argparse Namespace, a manifest entry), each
    at its default when absent: the one list of names the flags, manifests and records share."""
    get = record.get if isinstance(record, dict) else partial(getattr, record)
    return {f.name: get(f.name, f.default) for f in fields(Question)}


QUESTION_FIELDS = tuple(f.name for f in fields(Question))
