"""Shared pieces of the l2 estimators (seqlip, lipsdp): the optional-extra check, the scalar
chains c^T f of a plain affine/ReLU network, and the conversion of an l2 value to the query's
input norm.

For a scalar g = c^T f the local Lipschitz constant is max_x ||grad g(x)||_alpha* with alpha* the
dual of the input norm.  From an l2 value L2 >= max_x ||grad g(x)||_2:

* input norm linf (dual l1):  ||v||_1 <= sqrt(d) ||v||_2, so L_linf <= sqrt(d) * L2;
* input norm l1 (dual linf):  ||v||_inf <= ||v||_2,      so L_l1   <= L2.

For a set C of functionals the constant is a maximum over C of a convex function of c, attained
at a vertex, so the per-vertex values are maximised (c and -c give the same value: one of each).
"""
from __future__ import annotations

import importlib

import numpy as np

from ..errors import LipcError
from .naiveub import layer_matrices

EXTRA_HINT = "pip install 'lipc[estimators]'"
MAX_FUNCTIONALS = 64


def require(module: str, method: str):
    """Import an optional dependency of an estimator, or a LipcError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise LipcError(f"the {method} estimator needs the optional package {module!r} "
                        f"(not importable: {e}); install it with: {EXTRA_HINT}") from None


def functionals(ctx, method: str) -> np.ndarray:
    """The vertices of C as rows, one of each +-c pair."""
    V = ctx.query.output.vertices()
    if V is None:
        raise LipcError(f"{method}: the output set {ctx.query.output.name} has too many vertices "
                        "to enumerate; give a single --output functional")
    keep: list[np.ndarray] = []
    for c in np.asarray(V, dtype=np.float64):
        if not any(np.array_equal(c, k) or np.array_equal(c, -k) for k in keep):
            keep.append(c)
    if len(keep) > MAX_FUNCTIONALS:
        raise LipcError(f"{method}: the output set has {len(keep)} functionals (more than "
                        f"{MAX_FUNCTIONALS}); give a single --output functional")
    return np.array(keep)


def scalar_chains(ctx, method: str) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """[(c, [W_1, ..., W_{L-1}, c^T W_L])] per functional c: c folded into the last layer."""
    Ws = layer_matrices(ctx.network)
    return [(c, Ws[:-1] + [c[None, :] @ Ws[-1]]) for c in functionals(ctx, method)]


def to_query_norm(ctx, l2: float, method: str) -> tuple[float, dict]:
    """(value for the query's input norm, details) from an l2 -> |.| value."""
    norm = ctx.query.input_norm
    if norm.L is not None:
        raise LipcError(f"{method} bounds the l2 constant and converts it only to the plain "
                        f"l1 or linf input norms, not to the scaled norm {norm.name!r}")
    d = ctx.network.n_inputs
    if norm.reduce == "sum":            # linf input norm (dual l1): ||g||_1 <= sqrt(d) ||g||_2
        return float(np.sqrt(d) * l2), {"l2_value": float(l2), "scale": float(np.sqrt(d))}
    if norm.reduce == "max":            # l1 input norm (dual linf): ||g||_inf <= ||g||_2
        return float(l2), {"l2_value": float(l2), "scale": 1.0}
    raise LipcError(f"{method}: input norm {norm.name!r} is not supported (l1 or linf only)")
