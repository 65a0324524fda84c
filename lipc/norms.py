"""Dual-norm objectives built from the three primitives, as a table keyed by the input norm.

The Lipschitz constant for input norm alpha is the maximum of the *dual* norm of the gradient:
alpha = l_inf -> ||g||_1 = sum_i |g_i|, alpha = l_1 -> ||g||_inf = max_i |g_i|.
|g| = 2 * switch(g, cond(g)) - g, and max(u, w) = w + switch(u - w, cond(u - w)): no special
MIP gadget is needed, and bound inference folds every coordinate whose sign is certain, so those
cost no binary.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .errors import QueryError
from .ir import IRGraph, Term, affine, relu


def abs_node(graph: IRGraph, g: str) -> str:
    """Elementwise |g| = 2 relu(g) - g."""
    n = graph.size(g)
    r = relu(graph, g, label="|g| relu", stage="norm")
    return affine(graph, [Term(r, np.full(n, 2.0)), Term(g, -np.ones(n))], label="|g|",
                  stage="norm")


def sum_node(graph: IRGraph, t: str) -> str:
    return affine(graph, [Term(t, np.ones((1, graph.size(t))))], label="sum", stage="norm")


def _selector(rows: np.ndarray, n: int) -> np.ndarray:
    S = np.zeros((len(rows), n))
    S[np.arange(len(rows)), rows] = 1.0
    return S


def max_node(graph: IRGraph, t: str) -> str:
    """max_i t_i by a balanced tree of pairwise maxima: max(u, w) = w + relu(u - w).

    Each level halves the vector, so n - 1 conditionals in total and depth ceil(log2 n).
    """
    while graph.size(t) > 1:
        n = graph.size(t)
        half = n // 2
        even, odd = np.arange(0, 2 * half, 2), np.arange(1, 2 * half, 2)
        diff = affine(graph, [Term(t, _selector(even, n) - _selector(odd, n))],
                      label="max: u - w", stage="norm")
        r = relu(graph, diff, label="max: relu(u - w)", stage="norm")
        keep = list(odd) + ([n - 1] if n % 2 else [])
        m = half + n % 2
        carry = np.zeros((m, half))
        carry[np.arange(half), np.arange(half)] = 1.0
        t = affine(graph, [Term(r, carry), Term(t, _selector(np.array(keep), n))],
                   label="max", stage="norm")
    return t


def l1_objective(graph: IRGraph, g: str) -> str:
    return sum_node(graph, abs_node(graph, g))


def linf_objective(graph: IRGraph, g: str) -> str:
    return max_node(graph, abs_node(graph, g))


# input norm -> (dual-norm objective builder, name of the dual norm)
INPUT_NORMS: dict[str, tuple[Callable[[IRGraph, str], str], str]] = {
    "linf": (l1_objective, "l1"),
    "l1": (linf_objective, "linf"),
}

_ALIASES = {"linf": "linf", "inf": "linf", "l_inf": "linf", "l-inf": "linf", "infinity": "linf",
            "max": "linf", "∞": "linf", "l∞": "linf",
            "l1": "l1", "1": "l1", "l_1": "l1", "l-1": "l1", "manhattan": "l1"}


def canonical_norm(spelling: str) -> str:
    """Map the spellings users type ('inf', 'L1', 'l_inf', ...) to 'linf' / 'l1'."""
    key = str(spelling).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key in ("l2", "2", "l_2", "euclidean"):
        raise QueryError(
            "the l2 norm has no exact MIP encoding (its unit ball is not a polytope), so lipc "
            "refuses to return a number for it. Exact polyhedral bounds are available: with "
            "L_inf and L_1 the values for --input-norm linf and --input-norm l1 on d inputs, "
            "max(L_1, L_inf/sqrt(d)) <= L_2 <= min(L_inf, sqrt(d)*L_1)")
    raise QueryError(f"unknown norm {spelling!r}; use one of: linf, l1")
