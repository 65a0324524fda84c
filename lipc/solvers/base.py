"""What every MIP back end shares: options, the one result type, statuses, progress, the registry.

A back end turns a :class:`~lipc.core.mip.FlatMIP` (always a maximisation) into a
:class:`SolverOutcome`.  Native solver packages are imported lazily, inside ``solve``: importing
lipc never needs more than python-mip (CBC), and a back end whose package is absent is reported
with the package to install instead of an ``ImportError``.
"""
from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..errors import QueryError, SolverError
from ..core.mip import FlatMIP
from ..util.text import number_text


class Status:
    """Status strings shared by every back end (plain strings: they go to JSON as they are)."""

    OPTIMAL = "optimal"                  # optimality proved (within the gap tolerances)
    TIME_LIMIT = "time_limit"            # stopped by a limit with an incumbent: an interval
    NODE_LIMIT = "node_limit"            # stopped by SolveOptions.node_limit with an incumbent
    NO_SOLUTION = "no_solution"          # stopped by a limit before any incumbent
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INF_OR_UNBD = "infeasible_or_unbounded"
    INTERRUPTED = "interrupted"
    ERROR = "error"

    # impossible answers on a Lipschitz MIP (always feasible, objective bounded): numerical failures
    FAILURES = frozenset({INFEASIBLE, UNBOUNDED, INF_OR_UNBD, ERROR})
    # stopped by a limit with an incumbent: the answer is an interval [incumbent, bound]
    LIMITS = frozenset({TIME_LIMIT, NODE_LIMIT})


# Defaults chosen for exactness: big-M rows leak M*int_tol, and a maximised sum of |g_i| columns
# gains up to d*feas_tol (see ../shared/notes/anchor-measurements.md); 1e-9 costs little time here.
DEFAULT_FEAS_TOL = 1e-9
DEFAULT_INT_TOL = 1e-9


@dataclass
class SolveOptions:
    time_limit: float | None = None     # seconds (wall clock, for all attempts together)
    threads: int = 1
    gap: float = 1e-7                   # relative MIP gap at which the solver may stop
    gap_abs: float = 0.0                # absolute MIP gap: 0, an absolute floor is not scale-free
    progress: bool = False              # live progress line on stderr
    solver: str = "auto"                # a registry name, "auto", "race" or "race:A,B"
    feas_tol: float = DEFAULT_FEAS_TOL  # primal feasibility tolerance
    int_tol: float = DEFAULT_INT_TOL    # integrality tolerance
    seed: int = 0
    presolve: bool = True
    cross_check: str | None = None      # re-solve with this solver; disagreement is an error
    retry: bool = True                  # on a numerical failure: tighter tolerances, other solvers
    # a MIP start: one value per column (FlatMIP order), NaN where unknown (a partial start the
    # solver completes); lipc.verify.primal builds it from a verified point
    start: np.ndarray | None = field(default=None, repr=False, compare=False)
    # branch-and-bound nodes per attempt: a budget that, unlike seconds, does not depend on load
    # (one thread and a fixed seed make the search deterministic)
    node_limit: int | None = None
    # the solver's own primal heuristics (HiGHS: sub-MIPs, feasibility jump, ...); off where the
    # caller brings its incumbents (branch-and-bound nodes: measured 2x on their MIPs)
    heuristics: bool = True
    # only solutions with objective >= cutoff are sought (a branch-and-bound node whose value
    # matters only above the incumbent): "infeasible" is then an answer, the optimum is below it
    cutoff: float | None = None
    # progress (seconds, nodes, incumbent, bound) to this function instead of stderr (lipc.bab.auto
    # reads the MIP's bound from a child process this way)
    progress_sink: Callable[..., None] | None = field(default=None, repr=False, compare=False)
    # the model's units per unit of the MIP's objective (a normalised problem: 2**scale_exp), so
    # that the progress line shows the numbers the result will
    progress_unit: float = 1.0


def start_entries(start: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(column indices, values) of the known entries of a MIP start (none when there is none)."""
    if start is None:
        return np.zeros(0, np.int64), np.zeros(0)
    idx = np.flatnonzero(~np.isnan(start))
    return idx, np.asarray(start, np.float64)[idx]


@dataclass
class SolverOutcome:
    """What a back end reports, before lipc verifies anything (maximisation)."""

    status: str                          # a Status string
    incumbent: float | None              # objective of the best solution found
    bound: float | None                  # the solver's proven upper bound (dual bound)
    x: np.ndarray | None                 # column values of the best solution (witness-ready)
    seconds: float
    nodes: int | None = None
    solver: str = "cbc"
    log: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)   # tolerances etc. actually passed to the solver
    notes: list[str] = field(default_factory=list)  # retries, fallbacks, cross-checks
    check: object = None                 # what the caller's accept() attached (lipc: the witness)
    violation: dict | None = None        # audit of x: largest relative bound/row/integrality error

    @property
    def gap(self) -> float | None:
        """Relative gap between dual bound and incumbent, as solvers report it."""
        if self.incumbent is None or self.bound is None:
            return None
        return max(0.0, self.bound - self.incumbent) / max(abs(self.incumbent), 1e-12)


# ------------------------------------------------------------------------------------------------
# progress


def progress_text(t: float, solver: str, nodes: int | None, inc: float | None,
                  bound: float | None) -> str:
    gap = (f"{100 * max(0.0, bound - inc) / max(abs(inc), 1e-12):.2f}%"
           if inc is not None and bound is not None else "-")
    nodes_s = "-" if nodes is None else str(nodes)
    return (f"[lipc] {t:7.1f}s  {solver:5} nodes {nodes_s:>8}  incumbent {number_text(inc, 10)}  "
            f"bound {number_text(bound, 10)}  gap {gap}")


class Progress:
    """Receives (nodes, incumbent, bound) from a back end's callback or log and throttles it to
    one update per ``every`` seconds: a line on stderr rewritten in place, or a call
    ``sink(seconds, nodes, incumbent, bound)``; both in the model's units (incumbent and bound
    times ``unit``: a normalised problem's objective showed 0.574 where the result said 4.48)."""

    def __init__(self, solver: str, enabled: bool, sink: Callable[..., None] | None = None,
                 every: float = 0.5, t0: float | None = None, unit: float = 1.0):
        self.solver, self.enabled, self.every, self.unit = solver, enabled, every, unit
        self.t0 = time.perf_counter() if t0 is None else t0
        self.last = 0.0
        self.sink = sink
        self.shown = False
        # a private copy of stderr, so that solvers' stderr can be captured during the solve
        self.fd = os.dup(2) if enabled and sink is None else None
        self.state: tuple = (None, None, None)

    def __call__(self, nodes: int | None, inc: float | None, bound: float | None) -> None:
        self.state = (nodes, inc, bound)
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        inc, bound = (None if v is None else v * self.unit for v in (inc, bound))
        if self.sink is not None:                # e.g. a race child reporting to its parent
            self.sink(now - self.t0, nodes, inc, bound)
            return
        line = progress_text(now - self.t0, self.solver, nodes, inc, bound)
        self._write("\r" + line + "   ")
        self.shown = True

    def _write(self, text: str) -> None:
        if self.fd is not None:
            os.write(self.fd, text.encode("utf-8", "replace"))

    def close(self) -> None:
        if self.shown:
            self._write("\n")
            self.shown = False
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# ------------------------------------------------------------------------------------------------
# back ends


@dataclass(frozen=True)
class Attempt:
    """Per-attempt settings derived from :class:`SolveOptions` (retries change these)."""

    feas_tol: float
    int_tol: float
    presolve: bool
    time_limit: float | None

    @staticmethod
    def of(opts: SolveOptions, time_limit: float | None = None) -> "Attempt":
        return Attempt(opts.feas_tol, opts.int_tol, opts.presolve,
                       opts.time_limit if time_limit is None else time_limit)

    def tighter(self, floor: float = 1e-10) -> "Attempt":
        """The retry after a numerical failure: presolve off, tolerances tightened tenfold."""
        return replace(self, presolve=False, feas_tol=max(floor, self.feas_tol / 10),
                       int_tol=max(floor, self.int_tol / 10))

    def describe(self) -> str:
        return (f"feas {self.feas_tol:g}, int {self.int_tol:g}"
                f"{'' if self.presolve else ', presolve off'}")


class Backend:
    """One MIP solver.  Subclasses set the class attributes and implement :meth:`_solve`."""

    name = ""                  # registry key, also what --solver takes
    label = ""                 # human name
    module = ""                # Python package whose presence makes the back end available
    install = ""               # what to install when it is absent
    commercial = False
    # capability flags
    threads = True             # honours a thread count > 1
    seed = True                # honours a random seed
    int_tol = True             # has an integrality tolerance separate from feasibility
    progress_source = "log"    # "callback" or "log"
    min_tol = 1e-10            # smallest tolerance the solver accepts

    def available(self) -> bool:
        """Package importable (cheap: no import, no licence check)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def usable(self) -> bool:
        """Available and able to solve now (commercial back ends also need a licence)."""
        return self.available()

    def size_limited(self) -> bool:
        """Whether the licence in force limits the model size (open solvers: never)."""
        return False

    def fits(self, flat: FlatMIP) -> str | None:
        """None when this back end (its licence) can take ``flat``, else the reason it cannot.
        Open solvers take any size; commercial ones may have a size-limited licence."""
        return None

    def require(self) -> None:
        """Raise a :class:`SolverError` naming the missing piece unless the back end is usable."""
        if not self.available():
            raise SolverError(f"solver {self.name!r} is not installed: the Python package "
                              f"{self.module!r} is missing ({self.install})")

    def adjusted(self, flat: FlatMIP, att: Attempt) -> Attempt:
        """The attempt as this back end will run it on ``flat`` (a solver's own quirks), so the
        settings reported are the ones that ran."""
        return att

    def settings(self, opts: SolveOptions, att: Attempt) -> dict:
        feas = max(self.min_tol, att.feas_tol)
        integ = max(self.min_tol, att.int_tol)
        if not self.int_tol:                    # one tolerance for both: the tighter one
            feas = integ = min(feas, integ)
        return {"solver": self.name, "feasibility_tol": feas, "integrality_tol": integ,
                "gap_rel": opts.gap, "gap_abs": opts.gap_abs, "presolve": att.presolve,
                "threads": max(1, int(opts.threads)) if self.threads else 1,
                "seed": int(opts.seed), "time_limit": att.time_limit,
                "node_limit": opts.node_limit}

    def solve(self, flat: FlatMIP, opts: SolveOptions, attempt: Attempt | None = None,
              progress: Progress | None = None) -> SolverOutcome:
        att = self.adjusted(flat, attempt or Attempt.of(opts))
        t0 = time.perf_counter()
        if flat.n_cols == 0:                   # everything folded: the value is a constant
            return SolverOutcome(Status.OPTIMAL, flat.obj_const, flat.obj_const, np.zeros(0),
                                 0.0, 0, self.name, settings=self.settings(opts, att))
        own = progress is None
        if own:
            progress = Progress(self.name, opts.progress or opts.progress_sink is not None,
                                opts.progress_sink, unit=opts.progress_unit)
        try:
            out = self._solve(flat, opts, att, progress)
        except SolverError:
            raise
        except Exception as exc:               # native failures are solver errors, not lipc bugs
            out = SolverOutcome(Status.ERROR, None, None, None, 0.0, None, self.name,
                                log=[f"{type(exc).__name__}: {exc}"])
        finally:
            if own:
                progress.close()
        out.seconds = time.perf_counter() - t0
        out.solver = self.name
        out.settings = {**self.settings(opts, att), **out.settings}   # + what it read back
        if out.status == Status.OPTIMAL and out.incumbent is not None:
            out.bound = out.incumbent if out.bound is None else max(out.bound, out.incumbent)
        if (out.status == Status.TIME_LIMIT and opts.node_limit is not None
                and out.nodes is not None and out.nodes >= opts.node_limit):
            out.status = Status.NODE_LIMIT      # the back ends report every limit alike
        if out.status in (Status.OPTIMAL, *Status.LIMITS) and out.x is None:
            out.status = Status.NO_SOLUTION if out.status in Status.LIMITS else Status.ERROR
        if out.x is not None and out.status in (Status.OPTIMAL, *Status.LIMITS):
            out.violation = audit(flat, out.x)
            s = out.settings
            worst = [(k, v, lim) for k, v, lim in
                     (("bound", out.violation["bounds"], s["feasibility_tol"]),
                      ("row", out.violation["rows"], s["feasibility_tol"]),
                      ("integrality", out.violation["integrality"], s["integrality_tol"]))
                     if v > AUDIT_FACTOR * lim]
            if worst:        # the solver's own answer breaks the model beyond its tolerance
                out.log.append(AUDIT + "violates the model: " + ", ".join(
                    f"{k} by {v:.2g} (tolerance {lim:g})" for k, v, lim in worst))
                out.status = Status.ERROR
        return out

    def _solve(self, flat: FlatMIP, opts: SolveOptions, att: Attempt,
               progress: Progress) -> SolverOutcome:
        raise NotImplementedError


AUDIT_FACTOR = 10.0     # a solution may exceed the tolerances it was solved with by this factor
AUDIT = "lipc audit: the solution "


def audit(flat: FlatMIP, x: np.ndarray) -> dict:
    """Largest violation of the model by ``x``, each relative to max(1, size of the quantity):
    column bounds, rows (scaled by the largest |a_ij x_j| and |rhs|) and integrality."""
    lb, ub = flat.lb, flat.ub
    with np.errstate(invalid="ignore"):
        vb = np.maximum(np.maximum(lb - x, x - ub), 0.0)
        vb = vb / np.maximum(1.0, np.abs(np.where(x < lb, lb, np.where(x > ub, ub, 0.0))))
        rows = np.repeat(np.arange(flat.n_rows), np.diff(flat.indptr))
        terms = flat.data * x[flat.indices]
        ax = np.bincount(rows, terms, minlength=flat.n_rows)
        scale = np.bincount(rows, np.abs(terms), minlength=flat.n_rows)
        rhs = np.where(ax < flat.row_lo, flat.row_lo, np.where(ax > flat.row_hi, flat.row_hi, 0.0))
        vr = np.maximum(np.maximum(flat.row_lo - ax, ax - flat.row_hi), 0.0)
        vr = vr / np.maximum(1.0, np.maximum(scale, np.abs(rhs)))
    vi = np.abs(x - np.round(x))[flat.integer]
    return {"bounds": float(np.nan_to_num(vb).max(initial=0.0)),
            "rows": float(np.nan_to_num(vr).max(initial=0.0)),
            "integrality": float(vi.max(initial=0.0))}


REGISTRY: dict[str, Backend] = {}       # filled by lipc.solvers in preference order for "auto"


def register(backend: Backend) -> Backend:
    REGISTRY[backend.name] = backend
    return backend


def names() -> list[str]:
    return list(REGISTRY)


def installed() -> list[str]:
    """Back ends whose package is importable, in preference order."""
    return [n for n, b in REGISTRY.items() if b.available()]


def auto_order(flat: FlatMIP | None = None) -> list[str]:
    """Usable back ends in preference order (commercial ones only with a working licence, and
    with ``flat`` only those whose licence can take its size).  A size-limited licence comes
    after the open solvers: otherwise the solver behind ``auto`` would change with the size of
    the network, and HiGHS is the documented default."""
    usable = [b for b in REGISTRY.values()
              if b.usable() and (flat is None or b.fits(flat) is None)]
    return [b.name for b in sorted(usable, key=lambda b: b.size_limited())]


def skipped(flat: FlatMIP) -> list[str]:
    """Why usable back ends were left out of :func:`auto_order` for ``flat`` (for the notes)."""
    return [f"{n} skipped: {why}" for n, b in REGISTRY.items()
            if b.usable() and (why := b.fits(flat)) is not None]


def get(name: str, flat: FlatMIP | None = None) -> Backend:
    """The back end called ``name`` (or the best usable one for "auto"), ready to solve
    ``flat`` when given (an explicit choice whose licence cannot take it is an error)."""
    key = name.strip().lower()
    if key == "auto":
        order = auto_order(flat)
        if not order:
            raise SolverError("no MIP solver is usable: install python-mip (CBC) or highspy"
                              + ("" if flat is None else "; " + "; ".join(skipped(flat))))
        return REGISTRY[order[0]]
    if key not in REGISTRY:
        raise QueryError(f"unknown solver {name!r}; choose one of "
                         f"{', '.join(names() + ['auto', 'race'])}")
    b = REGISTRY[key]
    b.require()
    why = None if flat is None else b.fits(flat)
    if why is not None:
        raise SolverError(f"solver {b.name!r} cannot take this model: {why}. Use --solver auto "
                          "or an open solver (highs, cbc, scip)")
    return b
