"""Interval bound inference over the whole IR (forward, backward and norm nodes in one walk).

The bounds become big-M constants and decide which conditionals are stable, so they must be
*sound in floating point*: every affine bound is widened by a rigorous bound on the rounding error
of a float64 dot product (gamma_n * sum |w||x|), never computed in float32.  A transfer function
per node type lives in ``INTERVAL_RULES``; other analyses (symbolic, LP) plug in as other tables
over the same walk.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import DomainError
from ..core.ir import Affine, Bounds, Conditional, Const, Input, IRGraph, Switch
from ..core.sparse import absolute, negative_part, positive_part

_EPS = np.finfo(np.float64).eps


def gamma(n: int) -> float:
    """Relative error bound of an n-term float64 dot product, with slack (Higham's gamma_n)."""
    u = _EPS / 2
    return 2.0 * (n + 2) * u / (1.0 - (n + 2) * u)


def _affine(graph: IRGraph, name: str, op: Affine, bounds: dict[str, Bounds]) -> Bounds:
    lo = op.bias.copy()
    hi = op.bias.copy()
    magnitude = np.abs(op.bias)
    n_terms = 1
    for t in op.terms:
        b = bounds[t.src]
        if t.is_diag:
            w = t.weight
            lo += np.minimum(w * b.lo, w * b.hi)
            hi += np.maximum(w * b.lo, w * b.hi)
            magnitude = magnitude + np.abs(w) * np.maximum(np.abs(b.lo), np.abs(b.hi))
            n_terms += 1
        else:
            wp, wn = positive_part(t.weight), negative_part(t.weight)
            lo += wp @ b.lo + wn @ b.hi
            hi += wp @ b.hi + wn @ b.lo
            magnitude = magnitude + absolute(t.weight) @ np.maximum(np.abs(b.lo), np.abs(b.hi))
            n_terms += t.in_size()
    # four rounded operations per term (two products, two sums) plus the bias: gamma bound
    err = gamma(4 * n_terms) * magnitude
    tiny = np.finfo(np.float64).tiny
    return Bounds(lo - err - tiny * (err > 0), hi + err + tiny * (err > 0))


def _conditional(graph: IRGraph, name: str, op: Conditional, bounds: dict[str, Bounds]) -> Bounds:
    """[1,1] where z >= 0 on the whole domain, [0,0] where z <= 0, else [0,1].

    Where z >= 0 everywhere, z = 0 happens on a null set (or z is constant and carries no
    gradient), so fixing the gate to 1 leaves the Lipschitz constant unchanged.
    """
    z = bounds[op.src]
    on = z.lo >= 0
    off = (z.hi <= 0) & ~on
    lo = np.where(on, 1.0, 0.0)
    hi = np.where(off, 0.0, 1.0)
    return Bounds(lo, hi)


def _switch(graph: IRGraph, name: str, op: Switch, bounds: dict[str, Bounds]) -> Bounds:
    x, a = bounds[op.src], bounds[op.gate]
    gate_src = getattr(graph.op(op.gate), "src", None)
    if gate_src == op.src:                      # relu: the gate is the sign of x itself
        lo_free, hi_free = np.maximum(x.lo, 0.0), np.maximum(x.hi, 0.0)
    else:
        lo_free, hi_free = np.minimum(x.lo, 0.0), np.maximum(x.hi, 0.0)
    on = a.lo == 1.0
    off = a.hi == 0.0
    lo = np.where(on, x.lo, np.where(off, 0.0, lo_free))
    hi = np.where(on, x.hi, np.where(off, 0.0, hi_free))
    return Bounds(lo, hi)


def _const(graph: IRGraph, name: str, op: Const, bounds: dict[str, Bounds]) -> Bounds:
    return Bounds(op.value.copy(), op.value.copy())


def _input(graph: IRGraph, name: str, op: Input, bounds: dict[str, Bounds]) -> Bounds:
    if name not in bounds:
        raise DomainError(f"input node {name} has no domain")
    return bounds[name]


INTERVAL_RULES: dict[type, Callable[..., Bounds]] = {
    Input: _input,
    Const: _const,
    Affine: _affine,
    Conditional: _conditional,
    Switch: _switch,
}


def infer_interval(graph: IRGraph) -> None:
    """Annotate every node with interval bounds; leaves (inputs) must already carry theirs."""
    for name in graph.topo():
        op = graph.op(name)
        b = INTERVAL_RULES[type(op)](graph, name, op, graph.bounds)
        if not isinstance(op, Input):
            b.source = "interval"
        graph.bounds[name] = b


def unstable_count(graph: IRGraph, name: str) -> int:
    """Entries of a conditional whose value the bounds leave open (each costs one binary)."""
    b = graph.bounds[name]
    return int(np.sum(b.lo != b.hi))
