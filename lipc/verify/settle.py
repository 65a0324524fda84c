"""Solve a compiled Lipschitz query and settle its answer: the solver's claimed optimum counts
only when the witness verified on the original network reproduces it (``agrees``); the result is
a certified interval, never a bare number."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..compiler.entry import compile
from ..compiler.pipeline import CompileOptions, Problem
from ..core.network import Network
from ..lowering import Lowered
from ..question.domain import Domain
from ..solvers import SolveOptions, solve_mip
from .witness import Witness, verify

# relative disagreement tolerated between the solver's optimum and the verified value
AGREEMENT = 1e-6


def agrees(verified: float | None, incumbent: float) -> bool:
    """The verified value reproduces the solver's objective (to AGREEMENT relative)."""
    return verified is not None and \
        abs(verified - incumbent) <= AGREEMENT * max(1.0, abs(verified))



@dataclass
class LipschitzResult:
    """A Lipschitz constant as a certified interval: never a bare number.

    ``value`` is set only when the solve proved optimality *and* the verified lower bound
    agrees with the solver's optimum; otherwise read ``lower`` and ``upper``.
    """

    status: str
    value: float | None
    lower: float | None           # verified: a true gradient norm at an interior point
    upper: float | None           # the solver's dual bound (valid up to its tolerances)
    incumbent: float | None       # the solver's own objective value
    gap: float | None
    seconds: float
    nodes: int | None
    solver: str
    input_norm: str
    output: str                   # the functional c, or the output norm
    domain: str
    stats: dict = field(default_factory=dict)
    witness: Witness | None = None
    message: str = ""
    # the solver's column values (FlatMIP order) behind ``incumbent``: for independent checks
    # of the solution against the written file (lipc bench); not part of the report
    columns: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("columns")
        return d


def settle_outcome(outcome, verified: float | None):
    """(status, value, upper bound, message) of a maximisation from the solver's outcome and
    the value verified on the original model: a claimed optimum counts only when the verified
    value reproduces it; the bound never sits below the verified value."""
    status, value, bound, message = outcome.status, None, outcome.bound, ""
    if status == "optimal":
        if agrees(verified, outcome.incumbent):
            value = verified
            bound = max(bound, verified)
        else:
            status = "unverified"
            message = ("the solver's optimum could not be reproduced on the original network "
                       f"(verified {verified}, solver {outcome.incumbent}); reporting the interval")
    if bound is not None and verified is not None and bound < verified:
        bound = verified
    return status, value, bound, "; ".join(outcome.notes + ([message] if message else []))


def _describe_output(p: Problem) -> str:
    out = p.query.output
    if out.fixed is not None:
        return f"<c, f> with c = {out.fixed.tolist()}"
    return f"f under the {out.name} output norm"


def relative_gap(lo: float | None, hi: float | None) -> float | None:
    if lo is None or hi is None:
        return None
    return max(0.0, hi - lo) / max(abs(hi), 1e-12)


def solve(net: Network | str | Path, domain: Domain | str, output: str | None = None,
          input_norm: str = "linf", options: SolveOptions | None = None,
          compile_options: CompileOptions | None = None,
          output_norm: str | None = None) -> LipschitzResult:
    """Compute the local Lipschitz constant with a MIP solver (``options.solver``, default the
    best installed one) and verify the witness."""
    p, low = compile(net, domain, output, input_norm, compile_options=compile_options,
                     output_norm=output_norm)
    return solve_compiled(p, low, options)


def solve_compiled(p: Problem, low: Lowered, options: SolveOptions | None = None
                   ) -> LipschitzResult:
    """Solve an already compiled query (e.g. one just written to a file) and verify it."""
    opts = options or SolveOptions()

    def accept(o) -> bool:          # a claimed optimum must be reproduced by the verified witness
        o.check = verify(p, low, o.x)
        return agrees(o.check.value, o.incumbent)

    # infeasible/unbounded answers (numerical failures) are retried inside solve_mip: other
    # tolerances, then other solvers; it raises SolverError when nothing works
    outcome = solve_mip(low.mip, opts, accept=accept)
    witness = outcome.check if outcome.check is not None else (
        verify(p, low, outcome.x) if outcome.x is not None else None)
    lower = witness.value if witness is not None else None
    status, value, upper, message = settle_outcome(outcome, lower)
    mip = low.mip
    stats = dict(p.stats(), columns=mip.n_cols, rows=mip.n_rows, nonzeros=mip.nnz,
                 binaries=mip.meta["binaries"], max_big_m=mip.meta["max_big_m"],
                 timings={k: round(v, 6) for k, v in p.timings.items()},
                 solver_settings=outcome.settings)
    return LipschitzResult(status, value, lower, upper, outcome.incumbent,
                           relative_gap(lower, upper), outcome.seconds, outcome.nodes,
                           outcome.solver, p.query.input_norm.name, _describe_output(p),
                           p.domain.description, stats, witness, message, outcome.x)
