"""Reverse-mode differentiation of the forward IR into backward IR nodes in the same graph.

For y = sum_k W_k x_k + b the adjoint of x_k gains W_k^T ybar; for y = x * a (a switch) the
adjoint of x gains switch(ybar, a) gated by the *same* conditional a, which is what makes the
backward pass agree with the activation pattern of the forward pass.  Conditionals are piecewise
constant and pass no gradient.  Seeding the output with a vector c yields grad_x <c, f(x)>.
"""
from __future__ import annotations

from collections import defaultdict

import networkx as nx
import numpy as np

from ..core.ir import Affine, Conditional, Const, Input, IRGraph, Switch, Term, affine


def _adjoint_node(graph: IRGraph, terms: list[Term], label: str) -> str:
    """Sum of the adjoint contributions; a lone identity contribution needs no new node."""
    if len(terms) == 1 and terms[0].is_diag and np.all(terms[0].weight == 1.0):
        return terms[0].src
    return affine(graph, terms, label=label, stage="backward")


def differentiate(graph: IRGraph, x: str, y: str, seed: str) -> str:
    """Add the backward pass of ``<seed, y>`` with respect to ``x``; returns the gradient node.

    Only nodes on a path from ``x`` to ``y`` are differentiated: everything else is constant
    with respect to the input.
    """
    if graph.size(seed) != graph.size(y):
        raise ValueError("seed and output sizes differ")
    on_path = (nx.descendants(graph.g, x) | {x}) & (nx.ancestors(graph.g, y) | {y})
    contributions: dict[str, list[Term]] = defaultdict(list)
    contributions[y].append(Term(seed, np.ones(graph.size(y))))
    gradient = None
    for name in reversed(graph.topo()):
        if name not in on_path or not contributions[name]:
            continue
        bar = _adjoint_node(graph, contributions.pop(name), f"d/d {name}")
        op = graph.op(name)
        if isinstance(op, Affine):
            for t in op.terms:
                if t.src in on_path:
                    contributions[t.src].append(t.transposed(bar))
        elif isinstance(op, Switch):
            if op.src in on_path:
                gated = graph.add(Switch(bar, op.gate, op.size),
                                  label=f"backward switch of {name}", stage="backward")
                contributions[op.src].append(Term(gated, np.ones(op.size)))
        elif isinstance(op, Input):
            gradient = bar
        elif not isinstance(op, (Conditional, Const)):
            raise TypeError(f"no derivative rule for {type(op).__name__}")
    if gradient is None:                      # output does not depend on the input at all
        gradient = graph.add(Const(np.zeros(graph.size(x))), label="zero gradient",
                             stage="backward")
    return gradient
