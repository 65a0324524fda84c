"""LipMIP: lipc's exact mixed-integer program (lipc.solve); the value when proved optimal and
verified, otherwise the solver's upper bound (the result's status says which)."""
from __future__ import annotations

from ..verify.settle import COMPILED_KEYS, solve

GUARANTEE = "exact"


def lipmip(ctx) -> tuple[float, dict]:
    res = solve(ctx.network, ctx.settled_question(), ctx.solve_options,
                compile_options=ctx.compile_options)
    value = res.value if res.value is not None else res.upper
    compiled = {k: res.stats[k] for k in COMPILED_KEYS if k in res.stats}
    return value, {"status": res.status, "lower": res.lower, "upper": res.upper,
                   "solver": res.solver, **compiled}
