"""Numeric evaluation of the IR, one rule per node type.

Used to check the importer against the original model and passes against each other: every
node is evaluated on a batch (columns are samples), with the paper's semantics for the
conditional (1 where z > 0, 0 where z <= 0).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .ir import Affine, Conditional, Const, Input, IRGraph, Switch


def _affine(op: Affine, vals: dict) -> np.ndarray:
    out = op.bias[:, None].astype(np.float64)
    for t in op.terms:
        out = out + t.apply(vals[t.src])
    return out


EVAL_RULES: dict[type, Callable] = {
    Const: lambda op, vals: np.broadcast_to(op.value[:, None], (op.size, vals["__batch__"])),
    Affine: _affine,
    Conditional: lambda op, vals: (vals[op.src] > 0).astype(np.float64),
    Switch: lambda op, vals: vals[op.src] * vals[op.gate],
}


def evaluate(graph: IRGraph, leaves: dict[str, np.ndarray],
             targets: list[str] | None = None,
             rules: dict[type, Callable] | None = None) -> dict[str, np.ndarray]:
    """Values of every node (or of ``targets`` and what they need) for a batch of leaf values,
    each of shape (size, batch); ``rules`` overrides entries of EVAL_RULES (e.g. how a
    conditional breaks ties at 0)."""
    table = {**EVAL_RULES, **(rules or {})}
    batch = next(iter(leaves.values())).shape[1]
    vals: dict = {"__batch__": batch}
    need = graph.needed(*targets) if targets else set(graph.nodes())
    for name in graph.topo():
        if name not in need:
            continue
        op = graph.op(name)
        if isinstance(op, Input):
            vals[name] = np.asarray(leaves[name], dtype=np.float64)
        else:
            vals[name] = table[type(op)](op, vals)
    vals.pop("__batch__")
    return vals
