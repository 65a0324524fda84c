"""The lipc language: networks and Lipschitz queries written as text.

    from lipc.frontends.dsl import load_program
    from lipc.api import solve_query
    prog = load_program("examples/toy2d.lipc")
    for q in prog.queries:
        print(q.label, solve_query(q).value)

The pieces: ``grammar/lipc.lark`` (the grammar, installed as ``lipc.grammar``), lipc.frontends.dsl.parse
(text → tree, located errors), lipc.frontends.dsl.eval (the iterative walker, constants and the numpy
reference evaluator), lipc.frontends.dsl.build (tree → IR, queries → networks), lipc.frontends.dsl.printer
(IR → text).
A query's network goes through the same api/compiler path as an ONNX model.
"""
from __future__ import annotations

from pathlib import Path

from dataclasses import replace

from .build import DSLQuery, Program, build, load_program
from .printer import to_dsl
from ...errors import DomainError, ModelError
from ...core.network import Network
from ...question.question import Question

__all__ = ["DSLQuery", "Program", "build", "load_program", "load_network", "to_dsl",
           "query_domain", "query_question"]


def load_network(path: str | Path, output_node: str | None = None) -> Network:
    """The network of a program: its ``output`` statement, or the query ``output_node`` (a name
    or 0-based index), or its only query."""
    prog = load_program(path)
    if output_node is not None:
        return prog.query(output_node).network
    if prog.network is not None:
        return prog.network
    if len(prog.queries) == 1:
        return prog.queries[0].network
    raise ModelError(f"{path} has no `output` statement and {len(prog.queries)} queries: add "
                     "`output EXPR` to use it as a network, or choose a query")


def query_question(q: DSLQuery, domain=None, input_norm=None) -> Question:
    """The question of a query, its domain checked present: ``domain`` (e.g. from --domain)
    and ``input_norm`` override the program's."""
    question = q.question.with_domain(domain)
    if input_norm:
        question = replace(question, input_norm=input_norm)
    query_domain(q, question.domain)
    return question


def query_domain(q: DSLQuery, domain=None):
    """The domain of a query: ``domain`` (e.g. from --domain) overrides the program's."""
    dom = domain if domain is not None else q.question.domain
    if dom is None:
        raise DomainError(f"query {q.label} ({q.kind} {q.text}) has no domain: declare one with "
                          "the input (`input x[2] in box(0, 1)`), add `over DOMAIN` to the "
                          "query, or pass --domain")
    return dom
