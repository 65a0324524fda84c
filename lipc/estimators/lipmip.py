"""LipMIP: lipc's exact mixed-integer program (lipc.solve); the value when proved optimal and
verified, otherwise the solver's upper bound (the result's status says which)."""
from __future__ import annotations

from ..verify.settle import solve

GUARANTEE = "exact"


def lipmip(ctx) -> tuple[float, dict]:
    res = solve(ctx.network, ctx.domain, ctx.output, ctx.input_norm, ctx.solve_options,
                compile_options=ctx.compile_options, output_norm=ctx.output_norm)
    value = res.value if res.value is not None else res.upper
    return value, {"status": res.status, "lower": res.lower, "upper": res.upper,
                   "solver": res.solver}
