"""``--engine auto``: the engine chosen by measuring both on the query, not by its size.

Which engine is faster depends on the query more than on its number of unstable neurons
(benchmarks/README.md): branch and bound proves A-0.2 (40 unstable) 2.9x faster than the single
MIP, while on the trained unit cube T-cube (80 unstable) the MIP's own tree reaches a gap of 7.9 %
in 60 s where branch and bound reaches 38 %.  A neuron count (the rule before: bab above 60)
chose wrong both ways.  So ``auto``

1. solves the single MIP for a probe (:func:`probe_seconds`), in a child process that reports
   the solver's bound: most queries are proved there, at the MIP path's own speed;
2. otherwise holds the MIP (lipc.util.pausable: SIGSTOP) and runs branch and bound for as long,
   keeping its search state in memory;
3. goes on with the engine whose upper bound is lower after the same time, for the time left:
   branch and bound from its probe's state, or the held MIP where it stopped.  Nothing is redone
   either way (the first version restarted the MIP: the trained unit cube, which the MIP alone
   proves in 56 s, then stopped at a gap of 7.9 % after 60 s).

The primal side is searched once, for both engines.  The result says what was measured and
chosen (``stats["auto"]`` and its message).
"""
from __future__ import annotations

import sys
import time
from typing import Callable
from dataclasses import replace

import numpy as np

from ..compiler.entry import certified_upper
from ..compiler.pipeline import Problem
from ..errors import QueryError
from ..lowering import Lowered
from ..solvers import SolveOptions, Status
from ..solvers.base import progress_text
from ..verify import settle
from ..verify.primal import search
from ..util.pausable import Pausable
from ..verify.settle import LipschitzResult
from . import checkpoint
from .driver import BabOptions, solve_bab

PROBE_SHARE = 0.1        # of the time limit, for each engine's probe ...
PROBE_MIN = 5.0          # ... within these many seconds (the largest without a time limit): a
PROBE_MAX = 10.0         # unit-cube root node alone takes ~3 s (probes of 2 s on the shipped
                         # example's unit cube compared bound-pass bounds: 4.595 against 4.599)
CHILD_GRACE = 30.0       # seconds a MIP past its time limit gets to answer (settling, retries)
# a branch-and-bound probe that ends so (not by its time) is not a measurement to go on from
BAB_GOES_ON = frozenset({Status.TIME_LIMIT, Status.NODE_LIMIT, Status.NO_SOLUTION})


def probe_seconds(time_limit: float | None) -> float:
    """How long each engine is measured for."""
    if time_limit is None:
        return PROBE_MAX
    return min(PROBE_MAX, max(PROBE_MIN, PROBE_SHARE * time_limit))


def _upper(res: LipschitzResult) -> float:
    return float("inf") if res.upper is None else res.upper


def _left(opts: SolveOptions, t0: float) -> float | None:
    if opts.time_limit is None:
        return None
    return max(settle.MIN_SOLVER_SECONDS, opts.time_limit - (time.perf_counter() - t0))


def _chosen(res: LipschitzResult, t0: float, measured: dict) -> LipschitzResult:
    """``res`` with what auto measured and chose, and the time of the whole run."""
    res.stats["auto"] = measured
    res.seconds = time.perf_counter() - t0
    note = (f"engine auto chose {measured['engine']}"
            + (f" (upper bounds after {measured['probe']:.3g} s: MIP {measured['mip_upper']!r}, "
               f"branch and bound {measured['bab_upper']!r})" if "bab_upper" in measured else ""))
    return settle.with_notes(res, [note])


def _mip_reporting(report: Callable[[float | None], None], p: Problem, low: Lowered,
                   opts: SolveOptions, primal) -> LipschitzResult:
    """The MIP path, reporting the solver's bound as it goes (runs in the child process; with
    ``opts.progress`` also the live line on stderr)."""
    def sink(seconds, nodes, incumbent, bound):
        report(bound)
        if opts.progress:
            sys.stderr.write("\r" + progress_text(seconds, "mip", nodes, incumbent, bound) + "   ")
            sys.stderr.flush()

    try:
        return settle.solve_compiled(p, low, replace(opts, progress_sink=sink), primal)
    finally:
        if opts.progress:
            sys.stderr.write("\n")


def _capped(p: Problem, bound: float | None) -> float:
    """The MIP's bound at the probe's end (reported in the model's units), capped like its
    result by the bound passes' certified bound (a solver that reported nothing has only that)."""
    cap = certified_upper(p)
    known = [b for b in (bound, None if cap is None else float(np.ldexp(cap, p.scale_exp)))
             if b is not None]
    return min(known) if known else float("inf")


def bab_leads(mip_upper: float, bab_upper: float) -> bool:
    """Whether branch and bound goes on: its upper bound after the probe is no worse."""
    return bab_upper <= mip_upper


def solve_auto(p: Problem, low: Lowered, options: SolveOptions | None = None,
               bab: BabOptions | None = None) -> LipschitzResult:
    """The constant of the compiled query ``p`` by the engine measured faster on it (a run
    that saves or resumes its tree, or exports its nodes, is a branch-and-bound run)."""
    opts = options or SolveOptions()
    bab = bab or BabOptions()
    if bab.checkpoint or bab.resume or bab.export_nodes:
        return solve_bab(p, opts, bab, low)
    t0 = time.perf_counter()
    probe = probe_seconds(opts.time_limit)
    primal = search(p, low, seed=opts.seed)
    measured = dict(engine="mip", probe=probe)
    if opts.time_limit is not None and opts.time_limit < 2 * probe:   # no room: the MIP alone
        return _chosen(settle.solve_compiled(p, low, replace(opts, time_limit=_left(opts, t0)),
                                             primal), t0, measured)
    with Pausable(_mip_reporting, p, low, replace(opts, time_limit=_left(opts, t0)),
                  primal) as mip:
        if mip.wait(probe):                             # proved (or failed) within the probe
            return _chosen(mip.result(), t0, measured)
        mip.pause()
        mip_upper = _capped(p, mip.latest)
        state = (None, checkpoint.Saver())
        tree = solve_bab(p, replace(opts, time_limit=probe), bab, low, primal, state)
        measured.update(mip_upper=mip_upper, bab_upper=tree.upper)
        if tree.status not in BAB_GOES_ON:
            return _chosen(tree, t0, dict(measured, engine="bab"))
        if bab_leads(mip_upper, _upper(tree)):
            mip.stop()
            out = solve_bab(p, replace(opts, time_limit=_left(opts, t0)), bab, low, primal,
                            (state[1].last, state[1]))
            return _chosen(out, t0, dict(measured, engine="bab"))
        mip.resume()
        left = _left(opts, t0)
        if mip.wait(None if left is None else left + CHILD_GRACE):
            return _chosen(mip.result(), t0, measured)
    # the MIP's process overran its time limit by far: the probe's interval is what is known
    return _chosen(tree, t0, dict(measured, engine="bab", note="the MIP did not answer"))


def _mip(p: Problem, low: Lowered, opts: SolveOptions, bab: BabOptions | None
         ) -> LipschitzResult:
    return settle.solve_compiled(p, low, opts)


def _bab(p: Problem, low: Lowered, opts: SolveOptions, bab: BabOptions | None
         ) -> LipschitzResult:
    return solve_bab(p, opts, bab, low)


# ``--engine``: name -> how a compiled query is solved
ENGINES = {"mip": _mip, "bab": _bab, "auto": solve_auto}


def engine_named(engine: str) -> Callable[..., LipschitzResult]:
    """How ``engine`` (a key of ENGINES) solves a compiled query: f(p, low, options, bab)."""
    if engine not in ENGINES:
        raise QueryError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    return ENGINES[engine]
