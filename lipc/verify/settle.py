"""Solve a compiled Lipschitz query and settle its answer: the solver's claimed optimum counts
only when the certified witness closes the interval to it (``close``); the result is a certified
interval, never a bare number."""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..compiler.entry import certified_upper, compile
from ..compiler.pipeline import CompileOptions, Problem
from ..core.network import Network
from ..lowering import Lowered
from ..question.question import Question
from ..errors import LipcError
from ..solvers import SolveOptions, auto_order, solve_mip
from ..util.deadline import deadline
from .primal import Primal, search
from .witness import Witness, verify

# the solver always gets a moment, even when compiling used up the time limit: an incumbent or
# a bound is worth more to the user than an error at the deadline
MIN_SOLVER_SECONDS = 0.5

# the default relative tolerance that closes an interval: [lower, upper] proves a value when
# upper - lower <= RELATIVE_TOLERANCE * max(|lower|, |upper|).  Relative to the problem's own
# scale, never to 1: the answer to a question must not depend on the units of the output.
RELATIVE_TOLERANCE = 1e-6


def close(lo: float | None, hi: float | None, tol: float = RELATIVE_TOLERANCE) -> bool:
    """lo and hi agree to ``tol`` relative to their own magnitude (both 0 agree)."""
    return lo is not None and hi is not None and \
        abs(hi - lo) <= tol * max(abs(lo), abs(hi))


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
    # the solver's own log lines (lipc solve --log); not part of the report
    log: list[str] = field(default_factory=list, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("columns")
        d.pop("log")
        return d


def settle_outcome(outcome, verified: float | None, certified_upper: float | None = None,
                   user_gap: float = 0.0):
    """(status, value, upper bound, message) of a maximisation from the solver's outcome, the
    certified value ``verified`` (a true lower bound, or None) and a rigorous upper bound of
    the objective from the bound passes (or None).

    The solver's bound is never raised to meet the lower bound.  A solver bound below a
    certified lower bound (beyond the tolerance) is a wrong solver answer: status
    ``contradicted`` and the rigorous bound instead; one below it within the tolerance holds
    only to that tolerance, which is added to it (the upper bound is never under a certified
    value).  ``optimal`` needs a certified lower bound
    and an interval closed to RELATIVE_TOLERANCE; an interval closed only to a looser
    user gap is ``gap_reached``.
    """
    status, value, bound, notes = outcome.status, None, outcome.bound, list(outcome.notes)
    if certified_upper is not None and (bound is None or bound > certified_upper):
        bound = certified_upper                 # both are valid upper bounds: keep the tighter
                                                # (a solver stopped in its root LP has none)
    if _refutes(verified, bound):
        notes.append(f"the solver's bound {bound!r} is below the certified lower bound "
                     f"{verified!r}: the solver's answer is wrong; reporting the rigorous "
                     f"bound of the bound passes instead")
        return "contradicted", None, certified_upper, "; ".join(notes)
    if bound is not None and verified is not None and bound < verified:
        # below a certified point but within the tolerance: the claim holds only to that
        # tolerance, so the bound reported is the claim plus it (never below the constant:
        # the fuzz found upper 3.3937982 under the exact 3.3938007)
        bound = bound + RELATIVE_TOLERANCE * max(abs(bound), abs(verified))
        notes.append("the solver's bound was below the certified value by less than the "
                     f"tolerance {RELATIVE_TOLERANCE}: reported with that tolerance added")
    if status == "optimal":
        if verified is None:
            status = "unverified"
            notes.append("the solver's optimum could not be certified on the original network; "
                         "reporting the interval")
        elif close(verified, bound):
            value = verified
        elif user_gap > RELATIVE_TOLERANCE and close(verified, bound, user_gap):
            status = "gap_reached"
        else:
            status = "unverified"
            notes.append(f"the certified value {verified!r} does not close the interval to the "
                         f"solver's bound {bound!r}; reporting the interval")
    return status, value, bound, "; ".join(notes)


def describe_output(p: Problem) -> str:
    out = p.query.output
    if out.fixed is not None:
        return f"<c, f> with c = {np.ldexp(out.fixed, p.scale_exp).tolist()}"
    return f"f under the {out.name} output norm"


def relative_gap(lo: float | None, hi: float | None) -> float | None:
    """(hi - lo) relative to the interval's own magnitude; 0 for [0, 0]."""
    if lo is None or hi is None:
        return None
    scale = max(abs(lo), abs(hi))
    return 0.0 if hi <= lo else (hi - lo) / scale


def solve(net: Network | str | Path, question: Question, options: SolveOptions | None = None,
          compile_options: CompileOptions | None = None) -> LipschitzResult:
    """Compute the local Lipschitz constant with a MIP solver (``options.solver``, default the
    best installed one) and verify the witness.  ``options.time_limit`` covers the compile too:
    the solver gets what is left."""
    p, low, opts, notes = compiled_within(net, question, options, compile_options)
    return with_notes(solve_compiled(p, low, opts), notes)


def compiled_within(net: Network | str | Path, question: Question,
                    options: SolveOptions | None = None,
                    compile_options: CompileOptions | None = None):
    """(problem, lowered, options, notes): the question compiled (normalised) within
    ``options.time_limit``, the options with the time that is left (for the MIP solver or
    branch and bound), and what the deadline cut short."""
    opts = options or SolveOptions()
    t0 = time.perf_counter()
    with deadline(opts.time_limit) as d:
        p, low = compile(net, question, compile_options=compile_options, normalize=True)
    if opts.time_limit is not None:
        opts = replace(opts, time_limit=max(opts.time_limit - (time.perf_counter() - t0),
                                            MIN_SOLVER_SECONDS))
    return p, low, opts, ([] if d is None else d.notes)


def with_notes(res, notes: list[str]):
    """``res`` with the compile's deadline notes appended to its message."""
    if notes:
        res.message = "; ".join([res.message] * bool(res.message) + notes)
    return res


def solve_compiled(p: Problem, low: Lowered, options: SolveOptions | None = None,
                   primal: Primal | None = None) -> LipschitzResult:
    """Solve an already compiled query (e.g. one just written to a file) and verify it;
    ``primal``: the primal side's result when it was already searched (lipc.bab.auto searches
    once for both engines it measures)."""
    opts = replace(options or SolveOptions(), progress_unit=float(2.0 ** p.scale_exp))
    # the primal side: a certified lower bound whatever the solver manages, and its point as
    # the solver's MIP start (a point above a claimed optimum also exposes a wrong solver)
    primal = primal if primal is not None else search(p, low, seed=opts.seed)
    if opts.start is None and primal.start is not None:
        opts = replace(opts, start=primal.start)

    best = Best(primal.witness)

    def accept(o) -> bool:          # a claimed optimum must be reproduced by the verified witness
        o.check = best.offer(verify(p, low, o.x))
        return close(o.check.value, o.incumbent)

    # infeasible/unbounded answers (numerical failures) are retried inside solve_mip: other
    # tolerances, then other solvers; it raises SolverError when nothing works
    outcome = solve_mip(low.mip, opts, accept=accept)
    best.offer(_witness(p, low, outcome))
    witness = confirmed(low, opts, outcome, best.point, accept, lambda o: _witness(p, low, o))
    lower = witness.value if witness is not None else None
    status, value, upper, message = settle_outcome(outcome, lower, certified_upper(p), opts.gap)
    witness = copy.copy(witness)    # the primal side's may be reused (lipc.bab.auto): its units stay
    up = unscale(p, witness)
    value, lower, upper, incumbent = up(value), up(lower), up(upper), up(outcome.incumbent)
    mip = low.mip
    stats = dict(p.stats(), columns=mip.n_cols, rows=mip.n_rows, nonzeros=mip.nnz,
                 binaries=mip.meta["binaries"], max_big_m=mip.meta["max_big_m"],
                 timings={k: round(v, 6) for k, v in p.timings.items()},
                 solver_settings=outcome.settings, **compiled_with(p),
                 primal=dict(value=up(primal.value), seconds=round(primal.seconds, 6),
                             points=primal.points))
    return LipschitzResult(status, value, lower, upper, incumbent,
                           relative_gap(lower, upper), outcome.seconds, outcome.nodes,
                           outcome.solver, p.query.input_norm.name, describe_output(p),
                           p.domain.description, stats, witness, message, outcome.x,
                           list(outcome.log))


def unscale(p: Problem, witness: Witness | None) -> Callable[[float | None], float | None]:
    """Undo a normalised problem's scaling (``p.scale_exp``, lipc.compiler.entry): the
    witness is rescaled in place and the returned function maps a value in the problem's units
    to the model's (exact: a power of two)."""
    k = p.scale_exp
    up = (lambda t: None if t is None else float(np.ldexp(t, k)))
    if k and witness is not None:
        witness.value = up(witness.value)
        if p.query.output.fixed is not None:    # a fixed c was scaled; a seed set C never is
            witness.c = None if witness.c is None else np.ldexp(witness.c, k).tolist()
        witness.gradient = None if witness.gradient is None else \
            np.ldexp(witness.gradient, k).tolist()
    return up


def _witness(p: Problem, low: Lowered, outcome) -> Witness | None:
    """The certified witness of a solver's outcome: the one ``accept`` attached, else the
    certificate of its solution, else None (no solution)."""
    if outcome.check is not None:
        return outcome.check
    return verify(p, low, outcome.x) if outcome.x is not None else None


def _value(witness) -> float | None:
    return None if witness is None else witness.value


class Best:
    """The best certified point of a solve: the primal side's, and every solver attempt's,
    including attempts whose claimed optimum was rejected (their point is still a true lower
    bound: the soundness fuzz found HiGHS and CBC claiming a range maximum 7216.0 that their
    point, 7210.6, did not reproduce, then SCIP a wrong but reproduced optimum 4926.5; keeping
    7210.6 exposes SCIP's bound)."""

    def __init__(self, point=None):
        self.point = point

    def offer(self, point):
        """Keep ``point`` unless it is worse (a solver's point beats the primal side's of the
        same value: it carries its region's radius); returns it (as given)."""
        if _value(point) is not None and (_value(self.point) is None
                                          or point.value >= self.point.value):
            self.point = point
        return point


def _leaky(low: Lowered, opts: SolveOptions, value: float | None) -> bool:
    """Whether the big-M rows may leak more than the closing tolerance: a row with constant M
    is satisfied up to M x tolerance, so where that is not small against the value a solver can
    prove a wrong optimum (measured: HiGHS 1.16 proved 0.15419 with big-M 7.9e8 and 1e-9
    tolerances where CBC, SCIP and the oracle give 1.50698; a range maximum -14288153.6 with
    big-M 1110 where CBC, SCIP, Gurobi and brute force give -14188563.4)."""
    leak = low.mip.meta["max_big_m"] * max(opts.feas_tol, opts.int_tol)
    return leak > RELATIVE_TOLERANCE * abs(value or 0.0)


def _refutes(value: float | None, bound: float | None) -> bool:
    """A certified value above a solver's bound, beyond the tolerance: the bound is wrong
    (measured: HiGHS 1.16 with 1e-9 tolerances on a margin query, bound 0.088 under a certified
    0.331), so another solver is asked before anything is reported."""
    return value is not None and bound is not None and bound < value and not close(value, bound)


def confirmed(low: Lowered, opts: SolveOptions, outcome, witness, accept,
              witness_of: Callable):
    """The witness to report, after doubting a claimed optimum: a leaky or contradicted one
    counts only when a second solver agrees.  The larger of both solvers' bounds is kept unless
    a certified point refutes it, the better certified point wins, and a second solver that
    does not prove optimality (or is missing) leaves the claim open (status ``unverified`` or
    the second solver's).  Witnesses are anything with a ``value`` (a Lipschitz Witness, a
    range's point); ``witness_of(outcome)`` certifies a solver's solution."""
    if outcome.status != "optimal":
        return witness
    doubt = ("a certified point lies above its bound" if _refutes(_value(witness), outcome.bound)
             else "big-M constants times the tolerances are not small against the value"
             if _leaky(low, opts, _value(witness)) else None)
    if doubt is None:
        return witness
    others = [n for n in auto_order(low.mip) if n != outcome.solver]
    if not others:
        outcome.status = "unverified"
        outcome.notes.append(f"{outcome.solver}'s optimum is in doubt ({doubt}) and no second "
                             "solver is installed to confirm it")
        return witness
    try:
        second = solve_mip(low.mip, replace(opts, solver=others[0], cross_check=None),
                           accept=accept)
    except LipcError as e:
        outcome.status = "unverified"
        outcome.notes.append(f"confirmation by {others[0]} failed: {e}")
        return witness
    keep = Best(witness)
    keep.offer(witness_of(second))
    witness = keep.point
    if second.bound is not None and outcome.bound is not None:
        bounds = [b for b in (outcome.bound, second.bound) if not _refutes(_value(witness), b)]
        outcome.bound = max(bounds) if bounds else max(outcome.bound, second.bound)
    if second.status != "optimal":
        outcome.status = second.status
        outcome.notes.append(f"{second.solver} could not confirm {outcome.solver}'s optimum "
                             f"({second.status})")
    elif _refutes(_value(witness), second.bound):
        outcome.notes.append(f"{second.solver}'s optimum is under a certified point too")
    else:
        outcome.notes.append(f"optimum confirmed by {second.solver} ({outcome.solver}'s was in "
                             f"doubt: {doubt})")
    return witness


def compiled_with(p: Problem) -> dict:
    """How ``p`` was compiled, for the reports: the formulation, the ``--bounds`` option and the
    bound analyses that actually produced the big-M constants (``--bounds auto`` runs LP
    tightening only with HiGHS installed and on small models, so the option alone does not
    say)."""
    return dict(formulation=p.options.formulation, bounds=p.options.bounds,
                bound_sources=sorted({b.source for b in p.graph.bounds.values()} - {"domain"}))


COMPILED_KEYS = ("formulation", "bounds", "bound_sources")      # the keys of compiled_with
