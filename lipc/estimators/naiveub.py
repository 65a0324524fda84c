"""NaiveUB: the product of the layers' operator norms (an upper bound).

For f = W_L relu(... relu(W_1 x + b_1) ...) + b_L, J(x)^T c = W_1^T D_1 ... W_{L-1}^T D_{L-1} W_L^T c
with diagonal 0/1 matrices D_k.  With the dual norm alpha* = reduce(|L g|) of the input norm,
p = 1 (reduce "sum") or p = inf (reduce "max") between layers (diagonal D_k have p-norm at most 1):

    ||J^T c||_alpha* <= ||L W_1^T||_(p -> alpha*) * prod_k ||W_k^T||_(p -> p) * max_c ||W_L^T c||_p,

the last factor exact over the vertices of C.  Only plain chains of affine maps and ReLUs.
"""
from __future__ import annotations

import numpy as np

from ..errors import LipcError
from ..core.ir import Affine, Conditional, Input, Switch
from .base import dense

GUARANTEE = "upper"


def layer_matrices(network) -> list[np.ndarray]:
    """[W_1, ..., W_L] of a plain affine/ReLU chain (consecutive affine maps multiplied)."""
    g = network.graph
    mats: list[np.ndarray] = []
    cur: np.ndarray | None = None        # the affine map accumulated since the last ReLU
    node = network.output
    while True:
        op = g.op(node)
        if isinstance(op, Input):
            if node != network.input:
                break
            mats.append(cur if cur is not None else np.eye(g.size(node)))
            return mats[::-1]
        if isinstance(op, Affine) and len(op.terms) == 1:
            W = dense(op.terms[0].weight)
            cur = W if cur is None else cur @ W
            node = op.terms[0].src
            continue
        if isinstance(op, Switch) and isinstance(g.op(op.gate), Conditional) \
                and g.op(op.gate).src == op.src:
            mats.append(cur if cur is not None else np.eye(op.size))
            cur = None
            node = op.src
            continue
        break
    raise LipcError("naiveub needs a plain chain of affine layers and ReLUs; this network has "
                    f"a {type(op).__name__} node ({g.label(node) or node}) that is not one")


def _op_norm(M: np.ndarray, p: str, q: str) -> float:
    """||M||_(p -> q) for p, q in {l1, linf}, exact except (linf -> l1), bounded by sum |M|."""
    A = np.abs(M)
    if p == "l1":                       # the largest column in the q norm
        return float((A.sum(axis=0) if q == "l1" else A.max(axis=0, initial=0.0)).max(initial=0.0))
    if q == "linf":
        return float(A.sum(axis=1).max(initial=0.0))
    return float(A.sum())


def naiveub(ctx) -> tuple[float, dict]:
    Ws = layer_matrices(ctx.network)
    norm = ctx.query.input_norm
    p = "l1" if norm.reduce == "sum" else "linf"
    vertices = ctx.query.output.vertices()
    WLt = Ws[-1].T
    if vertices is not None:
        last = [WLt @ c for c in vertices]
        vec_norm = (lambda v: float(np.abs(v).sum())) if p == "l1" else \
                   (lambda v: float(np.abs(v).max(initial=0.0)))
        factors_last = max(vec_norm(v) for v in last)
    else:                               # c in the box [lo, hi]: |W^T c| <= |W^T| max|c|
        cmax = np.maximum(np.abs(ctx.query.output.set.lo), np.abs(ctx.query.output.set.hi))
        v = np.abs(WLt) @ cmax
        factors_last = float(v.sum() if p == "l1" else v.max(initial=0.0))
    if len(Ws) == 1:                    # a single affine map: J^T c = W^T c exactly
        return float(max(norm.dual(WLt @ c) for c in vertices)) if vertices is not None \
            else factors_last, {"layers": 1}
    first = Ws[0].T
    if norm.L is not None:
        first = (norm.L[:, None] * first) if norm.L.ndim == 1 else norm.L @ first
    factors = [_op_norm(first, p, p)] + [_op_norm(W.T, p, p) for W in Ws[1:-1]] + [factors_last]
    return float(np.prod(factors)), {"layers": len(Ws), "factors": factors}
