"""Lowering: annotated IR to the flat MIP, one rule per node type, per formulation.

``FORMULATIONS`` maps a ``--formulation`` name to its rule table: ``lipc`` (lipc.lowering.rules,
the default exact formulation) and ``paper`` (lipc.lowering.paper, the original LipMIP model).
The registry lives here, above both tables, so neither imports the other's user.
"""
from __future__ import annotations

from typing import Callable

from ..core.ir import IRGraph
from .builder import Builder, Lowered, Values, lower_with
from .paper import PAPER_RULES
from .rules import LOWERING_RULES

FORMULATIONS: dict[str, dict[type, Callable[[Builder, str, object], Values]]] = {
    "lipc": LOWERING_RULES,
    "paper": PAPER_RULES,
}


def lower(graph: IRGraph, objective: str, name: str = "lipc", formulation: str = "lipc",
          dual_norm: str | None = None) -> Lowered:
    """Lower the nodes the objective depends on with the rules of ``formulation``;
    ``dual_norm`` ("l1" / "linf") is the query's norm of the gradient, for rules (the paper's
    objective gadget) that encode that norm directly."""
    return lower_with(FORMULATIONS[formulation], graph, objective, name, dual_norm)
