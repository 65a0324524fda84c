"""CBC back end through python-mip: flat MIP arrays in, a :class:`SolverOutcome` out.

CBC writes its log to the process's C-level stdout.  lipc keeps its own stdout clean (``--json``
must be parseable) by redirecting file descriptor 1 into a pipe for the duration of the solve; a
reader thread turns CBC's branch-and-bound table into lipc's progress line on stderr.
(python-mip's progress-callback hook crashes CBC in the bundled build, so the log is the
portable source of incumbent and bound.)
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import SolverError
from .mip import FlatMIP


@dataclass
class SolveOptions:
    time_limit: float | None = None     # seconds
    threads: int = 1
    gap: float = 1e-7                   # relative MIP gap at which the solver may stop
    gap_abs: float = 1e-9
    progress: bool = False              # live progress line on stderr


@dataclass
class SolverOutcome:
    """What a back end reports, before lipc verifies anything."""

    status: str                          # optimal | time_limit | infeasible | unbounded | no_solution | error
    incumbent: float | None              # objective of the best solution found
    bound: float | None                  # the solver's proven upper bound (maximisation)
    x: np.ndarray | None                 # column values of the best solution
    seconds: float
    nodes: int | None = None
    solver: str = "cbc"
    log: list[str] = field(default_factory=list)


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


def _float(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


@contextlib.contextmanager
def captured_stdout(on_line: Callable[[str], None]):
    """Redirect C-level stdout into a pipe read by a thread calling ``on_line`` per line."""
    sys.stdout.flush()
    saved = os.dup(1)
    r, w = os.pipe()
    os.dup2(w, 1)
    os.close(w)

    def pump():
        with os.fdopen(r, "r", errors="replace") as f:
            for line in f:
                on_line(line.rstrip("\n"))

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)           # closes the pipe's last write end: the reader sees EOF
        os.close(saved)
        t.join(timeout=5)


class _Progress:
    """Turns solver log lines into a throttled one-line status on stderr."""

    def __init__(self, enabled: bool, t0: float):
        self.enabled, self.t0, self.last = enabled, t0, 0.0
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if not self.enabled:
            return
        row = parse_progress(line)
        now = time.perf_counter()
        if row is None or now - self.last < 0.5:
            return
        self.last = now
        nodes, inc, bound = row
        gap = (f"{100 * abs(bound - inc) / max(abs(inc), 1e-12):.2f}%"
               if inc is not None and bound is not None else "-")
        fmt = (lambda v: "-" if v is None else f"{v:.10g}")
        sys.stderr.write(f"\r[lipc] {now - self.t0:7.1f}s  nodes {nodes:>8}  incumbent "
                         f"{fmt(inc)}  bound {fmt(bound)}  gap {gap}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.last:
            sys.stderr.write("\n")


def build_model(flat: FlatMIP):
    """A python-mip CBC model equivalent to ``flat`` (maximisation)."""
    import mip

    m = mip.Model(name=flat.name, sense=mip.MAXIMIZE, solver_name=mip.CBC)
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


_STATUS = {
    "OPTIMAL": "optimal",
    "FEASIBLE": "time_limit",
    "NO_SOLUTION_FOUND": "no_solution",
    "INFEASIBLE": "infeasible",
    "INT_INFEASIBLE": "infeasible",
    "UNBOUNDED": "unbounded",
    "ERROR": "error",
    "CUTOFF": "error",
    "LOADED": "error",
    "OTHER": "error",
}


def solve_cbc(flat: FlatMIP, opts: SolveOptions) -> SolverOutcome:
    """Solve with CBC; the solver's log never reaches lipc's stdout."""
    t0 = time.perf_counter()
    if flat.n_cols == 0:                      # everything folded: the value is a constant
        return SolverOutcome("optimal", flat.obj_const, flat.obj_const, np.zeros(0), 0.0, 0)
    m, xs = build_model(flat)
    m.threads = max(1, int(opts.threads))
    m.max_mip_gap = opts.gap
    m.max_mip_gap_abs = opts.gap_abs
    m.verbose = 1                        # the log is captured: progress and node count
    progress = _Progress(opts.progress, t0)
    kwargs = {}
    if opts.time_limit is not None:
        kwargs["max_seconds"] = float(opts.time_limit)
    try:
        with captured_stdout(progress):
            status = m.optimize(**kwargs)
    except Exception as exc:               # CBC/cffi failures are solver errors, not lipc bugs
        raise SolverError(f"CBC failed: {exc}") from None
    finally:
        progress.close()
    st = _STATUS.get(status.name, "error")
    has_x = m.num_solutions > 0
    x = np.array([v.x for v in xs], dtype=np.float64) if has_x else None
    incumbent = float(m.objective_value) if has_x else None
    bound = float(m.objective_bound) if m.objective_bound is not None else None
    if st == "optimal" and incumbent is not None:
        bound = max(bound, incumbent) if bound is not None else incumbent
    return SolverOutcome(st, incumbent, bound, x, time.perf_counter() - t0,
                         nodes_from_log(progress.lines),
                         log=progress.lines)
