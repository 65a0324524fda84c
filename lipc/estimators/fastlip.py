"""FastLip: interval bounds on the Jacobian, i.e. interval bound propagation through the
backward pass (the same bounds lipc's ``--bounds interval`` puts on the gradient node), then the
largest dual norm of any vector in that box (an upper bound)."""
from __future__ import annotations

import numpy as np

from ..compiler.pipeline import CompileOptions

GUARANTEE = "upper"


def dual_of_box(norm, lo: np.ndarray, hi: np.ndarray) -> float:
    """max over g in [lo, hi] of the dual norm reduce(|L g|), bounded coordinate-wise."""
    L = norm.L
    if L is None:
        a = np.maximum(np.abs(lo), np.abs(hi))
    elif L.ndim == 1:
        a = np.abs(L) * np.maximum(np.abs(lo), np.abs(hi))
    else:
        Lp, Ln = np.maximum(L, 0.0), np.minimum(L, 0.0)
        a = np.maximum(np.abs(Lp @ lo + Ln @ hi), np.abs(Lp @ hi + Ln @ lo))
    return float(a.sum() if norm.reduce == "sum" else a.max(initial=0.0))


def fastlip(ctx) -> tuple[float, dict]:
    p = ctx.problem(CompileOptions(bounds="interval"))
    b = p.graph.bounds[p.gradient]
    return dual_of_box(ctx.query.input_norm, b.lo, b.hi), {"bounds": "interval"}
