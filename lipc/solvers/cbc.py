"""CBC through python-mip (lipc's one hard dependency): flat MIP arrays in, a SolverOutcome out.

CBC writes its log to the process's C-level stdout.  lipc keeps its own stdout clean (``--json``
must be parseable) by redirecting file descriptor 1 into a pipe for the duration of the solve; a
reader thread turns CBC's log (the root node's cut passes and solutions, then the
branch-and-bound table: LogProgress) into lipc's progress line on stderr.
(python-mip's progress-callback hook crashes CBC in the bundled build, so the log is the
portable source of incumbent and bound.)
"""
from __future__ import annotations

import re

import numpy as np

from ..core.mip import FlatMIP
from .base import (Attempt, Backend, Progress, SolveOptions, SolverOutcome, Status,
                   start_entries)
from ..util.capture import captured_stdout

_NODES = re.compile(r"Enumerated nodes:\s*(\d+)")


def nodes_from_log(lines: list[str]) -> int | None:
    """Branch-and-bound node count from CBC's closing summary (python-mip does not expose it,
    and CBC's C accessor aborts on models solved in preprocessing)."""
    for line in reversed(lines):
        m = _NODES.search(line)
        if m:
            return int(m.group(1))
    return None


_PROGRESS_ROW = re.compile(r"^\s*(?:[^\d\s-]\s+)?(\d+)\s+(\d+)\s+(\d+)\s+(.*?)\s+(-?[\d.e+-]+|-)\s+"
                           r"([\d.e+-]+%|-)\s+([\d.]+)\s*$")


def parse_progress(line: str) -> tuple[int, float | None, float | None] | None:
    """(nodes, incumbent, bound) from one row of CBC's branch-and-bound table, else None."""
    m = _PROGRESS_ROW.match(line)
    if not m:
        return None
    nodes = int(m.group(1))
    best = m.group(4).split()
    incumbent = _float(best[0]) if best else None
    return nodes, incumbent, _float(m.group(5))


# Rows of CBC's log before branch and bound, where the root node can spend most of a time limit:
# a cut pass (pass, rows, tight, fractional, sum of infeasibilities, LP objective = the dual
# bound, time) and a solution (the feasibility pump's starred row, a phase's summary "best X in
# T s", a MIP start's or heuristic's "Cbc0045I/Cbc0012I ... X").  The bare 7-number row cannot be the 6-column preprocessing table
# or a branch-and-bound row (those carry a gap with "%" or "-").
_CUT_PASS = re.compile(r"^\s*\d+\s+\d+\s+\d+\s+\d+\s+[-\d.e+]+\s+(-?[\d.e+-]+)\s+[\d.]+\s*$")
_PUMP_SOLUTION = re.compile(r"^\s*\S+\s+\d+\s+\d+\s+\d+\s+[\d.e+-]+\s+solution\s+"
                            r"(-?[\d.e+-]+)\s+[\d.]+\s*$")
_NUMBER = r"(-?\d[\d.]*(?:e[+-]?\d+)?)"
_INCUMBENT_ROWS = (
    _PUMP_SOLUTION,
    re.compile(r"\bbest\s+" + _NUMBER + r"\s+in\s+[\d.]+s\b"),             # phase summary
    re.compile(r"\b(?:Integer solution of|solution with cost)\s+" + _NUMBER),  # Cbc0012I/0045I
)


class LogProgress:
    """CBC's whole log as (nodes, incumbent, bound), line by line: the branch-and-bound table
    (:func:`parse_progress`) and, before it, the root node's cut passes and heuristic solutions,
    so a long root node shows a progress line too (HiGHS reports it through its callback).
    Stateful: a row updates what it knows and the rest is carried over."""

    def __init__(self) -> None:
        self.nodes, self.incumbent, self.bound = 0, None, None

    def __call__(self, line: str) -> tuple[int, float | None, float | None] | None:
        row = parse_progress(line)
        if row is not None:
            self.nodes = row[0]
            self.incumbent = row[1] if row[1] is not None else self.incumbent
            self.bound = row[2] if row[2] is not None else self.bound
        elif m := _CUT_PASS.match(line):
            self.bound = _float(m.group(1))
        elif m := next(filter(None, (r.search(line) for r in _INCUMBENT_ROWS)), None):
            self.incumbent = _float(m.group(1))
        else:
            return None
        return self.nodes, self.incumbent, self.bound


def _float(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def build_model(flat: FlatMIP, solver_name: str | None = None):
    """A python-mip model equivalent to ``flat`` (maximisation); CBC unless ``solver_name``."""
    import mip

    m = mip.Model(name=flat.name, sense=mip.MAXIMIZE, solver_name=solver_name or mip.CBC)
    m.verbose = 0
    xs = [m.add_var(name=n, lb=float(lo), ub=float(hi),
                    var_type=mip.INTEGER if integ else mip.CONTINUOUS)
          for n, lo, hi, integ in zip(flat.col_names, flat.lb, flat.ub, flat.integer)]
    for r in range(flat.n_rows):
        a, b = flat.indptr[r], flat.indptr[r + 1]
        expr = mip.LinExpr([xs[j] for j in flat.indices[a:b]], flat.data[a:b].tolist())
        lo, hi = float(flat.row_lo[r]), float(flat.row_hi[r])
        name = flat.row_names[r]
        if lo == hi:
            m.add_constr(expr == lo, name=name)
            continue
        if np.isfinite(lo):
            m.add_constr(expr >= lo, name=name + ("_lo" if np.isfinite(hi) else ""))
        if np.isfinite(hi):
            m.add_constr(expr <= hi, name=name + ("_hi" if np.isfinite(lo) else ""))
    nz = np.flatnonzero(flat.obj)
    m.objective = mip.LinExpr([xs[j] for j in nz], flat.obj[nz].tolist(), const=flat.obj_const)
    return m, xs


STATUS = {
    "OPTIMAL": Status.OPTIMAL,
    "FEASIBLE": Status.TIME_LIMIT,
    "NO_SOLUTION_FOUND": Status.NO_SOLUTION,
    "INFEASIBLE": Status.INFEASIBLE,
    "INT_INFEASIBLE": Status.INFEASIBLE,
    "UNBOUNDED": Status.UNBOUNDED,
    "ERROR": Status.ERROR,
    "CUTOFF": Status.ERROR,
    "LOADED": Status.ERROR,
    "OTHER": Status.ERROR,
}


def solve_pymip(m, xs, opts: SolveOptions, att: Attempt, progress: Progress,
                parse=None) -> SolverOutcome:
    """Set the uniform parameters on a python-mip model, optimise with the log captured, read
    back the outcome (shared by CBC and python-mip's Gurobi driver); ``parse`` turns a log line
    into progress (CBC: a :class:`LogProgress`)."""
    m.threads = max(1, int(opts.threads))
    m.max_mip_gap = opts.gap
    m.max_mip_gap_abs = opts.gap_abs
    m.integer_tol = att.int_tol
    m.infeas_tol = att.feas_tol
    m.seed = int(opts.seed)
    if not att.presolve:
        m.preprocess = 0
    m.verbose = 1                        # the log is captured: progress and node count
    idx, val = start_entries(opts.start)
    if idx.size:
        m.start = [(xs[j], float(v)) for j, v in zip(idx, val)]
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        row = parse(line) if parse else None
        if row is not None:
            progress(*row)

    kwargs = {}
    if att.time_limit is not None:
        kwargs["max_seconds"] = max(0.01, float(att.time_limit))
    if opts.node_limit is not None:
        kwargs["max_nodes"] = int(opts.node_limit)
    with captured_stdout(on_line):
        status = m.optimize(**kwargs)
    st = STATUS.get(status.name, Status.ERROR)
    has_x = m.num_solutions > 0
    x = np.array([v.x for v in xs], dtype=np.float64) if has_x else None
    incumbent = float(m.objective_value) if has_x else None
    bound = float(m.objective_bound) if m.objective_bound is not None else None
    if bound is not None and not np.isfinite(bound):
        bound = None
    return SolverOutcome(st, incumbent, bound, x, 0.0, nodes_from_log(lines), log=lines)


class CBC(Backend):
    name, label, module = "cbc", "CBC (python-mip)", "mip"
    install = "pip install mip"
    int_tol = True
    progress_source = "log"

    def _solve(self, flat, opts, att, progress):
        m, xs = build_model(flat)
        return solve_pymip(m, xs, opts, att, progress, parse=LogProgress())
