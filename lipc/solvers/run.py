"""Running back ends for a Lipschitz MIP: retries, fallback, cross-check, race.

A Lipschitz MIP is feasible (every point of the domain is a solution) and bounded (every column
has finite bounds), so "infeasible" or "unbounded" is a numerical failure of the solver, never an
answer.  :func:`solve_mip` then retries — first the same solver with presolve off and tenfold
tighter tolerances, then the other usable solvers in preference order — within the time limit,
and records every step in ``SolverOutcome.notes``.  If nothing succeeds it raises
:class:`SolverError`.  The same ladder is used when the caller's ``accept`` check (lipc: the
verified witness) rejects a solver's "optimal" answer.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import sys
import time
from dataclasses import replace
from multiprocessing.connection import wait as mp_wait
from typing import Callable

from ..errors import QueryError, SolverError
from ..core.mip import FlatMIP
from ..util.stopping import child_signals, deferred_signals
from ..util.text import number_text
from .base import (AUDIT, REGISTRY, Attempt, Backend, Progress, SolveOptions, SolverOutcome, Status,
                   auto_order, get, skipped)

AGREE = 1e-6        # relative agreement demanded by --cross-check


def _remaining(opts: SolveOptions, t0: float) -> float | None:
    if opts.time_limit is None:
        return None
    return opts.time_limit - (time.perf_counter() - t0)


def _plan(flat: FlatMIP, primary: Backend, opts: SolveOptions, skip_first: bool = False):
    """(back end, attempt) pairs in the order they are tried."""
    first = Attempt.of(opts)
    if not skip_first:
        yield primary, first
    if not opts.retry:
        return
    yield primary, first.tighter(primary.min_tol)
    for name in auto_order(flat):
        if name != primary.name:
            yield REGISTRY[name], first


def _ladder(flat: FlatMIP, opts: SolveOptions, primary: Backend, accept, t0: float,
            notes: list[str] | None = None, skip_first: bool = False) -> SolverOutcome:
    notes = list(notes or [])
    rejected: SolverOutcome | None = None
    tried, explained = 0, False
    for backend, att in _plan(flat, primary, opts, skip_first):
        left = _remaining(opts, t0)
        if tried and left is not None and left <= 0.05:
            notes.append("time limit reached: no further attempt")
            break
        tried += 1
        att = replace(att, time_limit=left if left is None else max(left, 0.05))
        out = backend.solve(flat, opts, att)
        what = f"{backend.name} ({att.describe()})"
        if _below_cutoff(out, opts):
            return out
        if out.status in Status.FAILURES:
            last = out.log[-1] if out.log else ""
            if out.status != Status.ERROR:
                note = f"{what} said {out.status}"
                if not explained:
                    note += " (impossible: a numerical failure)"
                    explained = True
            elif last.startswith(AUDIT):
                note = f"{what} returned a solution that {last[len(AUDIT):]}"
            else:
                note = f"{what} failed{': ' + last if last else ''}"
            notes.append(note)
            continue
        if out.status == Status.OPTIMAL and accept is not None and not accept(out):
            notes.append(f"{what} claimed optimum {out.incumbent!r}, which the verified "
                         "witness does not reproduce")
            rejected = rejected or out
            continue
        if notes:
            notes.append(f"{what} gave {out.status}")
        out.notes = notes + out.notes
        return out
    if rejected is not None:
        rejected.notes = notes + rejected.notes
        return rejected
    raise SolverError("every solver attempt failed on this Lipschitz MIP, which is feasible and "
                      "bounded by construction: " + "; ".join(notes) +
                      ". The model is numerically ill-conditioned; please report it")


def _below_cutoff(out: SolverOutcome, opts: SolveOptions) -> bool:
    """Infeasible under ``opts.cutoff``: a proof that the optimum is below it, not a failure."""
    return out.status == Status.INFEASIBLE and opts.cutoff is not None


def solve_mip(flat: FlatMIP, opts: SolveOptions | None = None,
              accept: Callable[[SolverOutcome], bool] | None = None) -> SolverOutcome:
    """Solve ``flat`` with ``opts.solver`` (a name, "auto", "race" or "race:A,B").

    ``accept(outcome)`` may reject an "optimal" outcome (lipc: its optimum is not reproduced by
    the verified witness); rejected and failed attempts move down the retry ladder.
    """
    opts = opts or SolveOptions()
    t0 = time.perf_counter()
    if opts.cutoff is not None:
        flat = flat.with_objective_floor(opts.cutoff)
    choice = (opts.solver or "auto").strip().lower()
    if choice == "race" or choice.startswith("race:"):
        out = race(flat, opts, race_names(choice, flat), accept, t0)
    else:
        out = _ladder(flat, opts, get(choice, flat), accept, t0)
    if choice == "auto" or choice == "race":
        left_out = skipped(flat)                  # e.g. a size-limited licence
        if left_out:
            out.notes.insert(0, f"{choice} chose {out.solver}: " + "; ".join(left_out))
    if opts.cross_check:
        cross_check(out, flat, opts, t0)
    return out


# ------------------------------------------------------------------------------------------------
# cross-check


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def cross_check(out: SolverOutcome, flat: FlatMIP, opts: SolveOptions, t0: float) -> None:
    """Re-solve with ``opts.cross_check``; raise :class:`SolverError` on any disagreement."""
    other = get(opts.cross_check, flat)
    if other.name == out.solver:
        raise QueryError(f"--cross-check {other.name}: choose a solver other than the one that "
                         f"solved the model ({out.solver})")
    if out.status not in (Status.OPTIMAL, *Status.LIMITS):
        out.notes.append(f"cross-check with {other.name} skipped: {out.solver} gave {out.status}")
        return
    left = _remaining(opts, t0)
    att = Attempt.of(opts, None if left is None else max(left, 1.0))
    chk = other.solve(flat, opts, att)
    head = f"cross-check failed: {out.solver} found {out.incumbent!r}"
    if chk.status in Status.FAILURES:
        raise SolverError(f"{head}, {other.name} says the model is {chk.status}")
    if out.status == Status.OPTIMAL and chk.status == Status.OPTIMAL:
        d = _rel(out.incumbent, chk.incumbent)
        if d > AGREE:
            raise SolverError(f"{head}, {other.name} found {chk.incumbent!r} (relative "
                              f"difference {d:.2e} > {AGREE:g})")
        out.notes.append(f"cross-checked with {other.name}: {chk.incumbent!r} (relative "
                         f"difference {d:.1e})")
        return
    # at least one interval: [incumbent, bound] of each must intersect
    lo1, hi1 = out.incumbent, out.bound if out.bound is not None else math.inf
    lo2 = chk.incumbent if chk.incumbent is not None else -math.inf
    hi2 = chk.bound if chk.bound is not None else math.inf
    slack = AGREE * max(abs(lo1), 1e-12)
    if lo1 > hi2 + slack or lo2 > hi1 + slack:
        raise SolverError(f"{head} with bound {number_text(out.bound, 10)}, {other.name} found "
                          f"[{number_text(chk.incumbent, 10)}, {number_text(chk.bound, 10)}]: the intervals are disjoint")
    out.notes.append(f"cross-checked with {other.name} ({chk.status}): intervals "
                     f"[{number_text(lo1, 10)}, {number_text(out.bound, 10)}] and [{number_text(chk.incumbent, 10)}, "
                     f"{number_text(chk.bound, 10)}] intersect")


# ------------------------------------------------------------------------------------------------
# race


def race_names(choice: str, flat: FlatMIP | None = None) -> list[str]:
    """The two racers: "race:A,B" or the two best usable back ends (that can take ``flat``)."""
    if ":" in choice:
        names = [n.strip() for n in choice.split(":", 1)[1].split(",") if n.strip()]
        if len(names) < 2 or len(set(names)) != len(names):
            raise QueryError(f"--solver {choice}: name two different solvers, e.g. race:highs,cbc")
        for n in names:
            get(n, flat)                # unknown, missing or over its licence: a clear error
        return names
    names = auto_order(flat)
    if len(names) < 2:
        raise SolverError("--solver race needs two usable solvers; usable here: "
                          f"{', '.join(names) or 'none'} (install highspy or pyscipopt)")
    return names[:2]


def _race_child(backend: Backend, flat: FlatMIP, opts: SolveOptions, conn, show: bool) -> None:
    """Runs in a separate process: solve, send ("done", outcome); progress as ("progress", ...)."""
    name = backend.name
    child_signals()
    try:
        def sink(t, nodes, inc, bound):
            conn.send(("progress", name, t, nodes, inc, bound))

        out = backend.solve(flat, opts, None, Progress(name, show, sink, unit=opts.progress_unit))
        out.log = out.log[-200:]
        conn.send(("done", out))
    except BaseException as exc:            # noqa: BLE001 - report, never hang the parent
        try:
            conn.send(("done", SolverOutcome(Status.ERROR, None, None, None, 0.0, None, name,
                                             log=[f"{type(exc).__name__}: {exc}"])))
        except Exception:
            pass
    finally:
        conn.close()


class _RaceLine:
    def __init__(self, enabled: bool, t0: float):
        self.enabled, self.t0, self.state, self.shown = enabled, t0, {}, False

    def update(self, name, t, nodes, inc, bound):
        if not self.enabled:
            return
        self.state[name] = (nodes, inc, bound)
        parts = [f"{n}: inc {number_text(i, 10)} bound {number_text(b, 10)}" for n, (_, i, b) in self.state.items()]
        sys.stderr.write(f"\r[lipc] {time.perf_counter() - self.t0:7.1f}s  race  "
                         + " | ".join(parts) + "   ")
        sys.stderr.flush()
        self.shown = True

    def close(self):
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _stop(procs) -> None:
    """Terminate and reap every racer: no process is left running or as a zombie."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()


def race(flat: FlatMIP, opts: SolveOptions, names: list[str], accept=None,
         t0: float | None = None) -> SolverOutcome:
    """Solve with two back ends in parallel processes; the first proof of optimality wins and
    the other process is terminated and reaped."""
    t0 = time.perf_counter() if t0 is None else t0
    backends = [get(n) for n in names]
    ctx = mp.get_context("spawn")       # no fork: solver thread pools do not survive a fork
    child_opts = replace(opts, solver=names[0], cross_check=None, progress=False,
                         progress_sink=None)
    procs, pending = [], {}
    line = _RaceLine(opts.progress, t0)
    results: list[SolverOutcome] = []
    try:
        with deferred_signals():
            for b in backends:
                r, w = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_race_child, args=(b, flat, child_opts, w, opts.progress),
                                name=f"lipc-race-{b.name}", daemon=True)
                p.start()
                w.close()
                procs.append(p)
                pending[r] = b.name
        deadline = None if opts.time_limit is None else t0 + opts.time_limit + 30.0
        while pending and not any(o.status == Status.OPTIMAL for o in results):
            if deadline is not None and time.perf_counter() > deadline:
                break
            for conn in mp_wait(list(pending), timeout=0.5):
                name = pending[conn]
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    del pending[conn]
                    results.append(SolverOutcome(Status.ERROR, None, None, None, 0.0, None, name,
                                                 log=["the solver process ended without a result"]))
                    continue
                if msg[0] == "progress":
                    line.update(*msg[1:])
                else:
                    del pending[conn]
                    results.append(msg[1])
    finally:
        line.close()
        _stop(procs)
        for conn in pending:
            conn.close()
    notes = [f"race {' vs '.join(names)}: "
             + ", ".join(f"{o.solver} {o.status} in {o.seconds:.2f} s" for o in results)
             + ("" if len(results) == len(names) else
                f"; {', '.join(n for n in names if n not in {o.solver for o in results})} stopped")]
    proofs = [o for o in results if o.status == Status.OPTIMAL or _below_cutoff(o, opts)]
    if proofs:
        winner = proofs[0]
        if accept is None or accept(winner):
            winner.notes = notes + winner.notes
            winner.seconds = time.perf_counter() - t0        # the race's wall clock
            return winner
        notes.append(f"{winner.solver}'s optimum {winner.incumbent!r} is not reproduced by the "
                     "verified witness")
    usable = [o for o in results if o.status not in Status.FAILURES]
    if usable and not proofs:                  # limits hit: the tightest interval
        best = min(usable, key=lambda o: (o.bound if o.bound is not None else math.inf)
                   - (o.incumbent if o.incumbent is not None else -math.inf))
        best.notes = notes + best.notes
        return best
    # every racer failed (or the proof was rejected): the retry ladder
    return _ladder(flat, opts, backends[0], accept, t0, notes, skip_first=True)
