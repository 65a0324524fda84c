"""LipLP: the linear-programming relaxation of lipc's MIP (every binary relaxed to [0, 1]); its
optimum is an upper bound on the Lipschitz constant.

For a dual norm that is a maximum (``--input-norm l1``: max_k |g_k|) the relaxed tree of pairwise
maxima can exceed every coordinate's own bound, so lipc also solves one LP per coordinate k with
the objective |g_k| (the same relaxation, the max taken outside) and reports the smaller of the
two upper bounds; this keeps LipLP at or below FastLip.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..compiler.pipeline import lower_problem
from ..errors import SolverError
from ..solvers import SolveOptions, solve_mip
from ..verify.settle import compiled_with

GUARANTEE = "upper"


def lp_relaxation(mip):
    """The same program with every integrality flag off."""
    return replace(mip, integer=np.zeros(mip.n_cols, dtype=bool),
                   meta=dict(mip.meta, binaries=0))


def liplp(ctx) -> tuple[float, dict]:
    p = ctx.problem()
    low = lower_problem(p)
    opts = replace(ctx.solve_options or SolveOptions(), cross_check=None, progress=False)
    out = solve_mip(lp_relaxation(low.mip), opts)
    value = _upper(out)
    details = {"solver": out.solver, "columns": low.mip.n_cols, "rows": low.mip.n_rows,
               **compiled_with(p)}
    if ctx.query.input_norm.reduce == "max":
        per = _per_coordinate(p, low, opts)
        if per is not None:
            details.update(joint_lp=value, per_coordinate_lp=per)
            value = min(value, per)
    return float(value), details


def _upper(out) -> float:
    if out.status != "optimal" or out.bound is None:
        raise SolverError(f"liplp: the LP relaxation was not solved to optimality "
                          f"({out.status})")
    return max(v for v in (out.bound, out.incumbent) if v is not None)


def _per_coordinate(p, low, opts) -> float | None:
    """max over k of the LP optimum of |g_k| (the node labelled "|g|" of the dual norm), or None
    when that node is not in the lowered program."""
    g = p.graph
    abs_nodes = [n for n in g.needed(p.objective) if g.label(n) == "|g|" and n in low.values]
    if len(abs_nodes) != 1:
        return None
    v = low.values[abs_nodes[0]]
    lp = lp_relaxation(low.mip)
    best = -np.inf
    for k in range(v.var.size):
        if not v.var[k]:
            best = max(best, float(v.vals[k]))
            continue
        obj = np.zeros(lp.n_cols)
        obj[v.cols[k]] = 1.0
        best = max(best, _upper(solve_mip(replace(lp, obj=obj, obj_const=0.0), opts)))
    return float(best)
