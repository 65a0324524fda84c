"""``lipc solve --engine bab``: branch and bound as a LipschitzResult like the MIP path's.

The engine splits unstable neurons, so it runs on every domain kind, input norm and output side
the compiler accepts (``--engine auto`` measures it against the single MIP: lipc.bab.auto).
Every node solution is certified here, on the root query, through
lipc.bab.primal (the one call site of the witness machinery).  A run saves its state at every
batch (``checkpoint``), continues a saved one (``resume``: lipc.bab.checkpoint) and leaves its
open nodes as a MIP library at the stop (``export_nodes``: lipc.bab.export); the files are
checked before any work, so a refused file costs nothing.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

from ..compiler.pipeline import Problem, lower_problem
from ..lowering import Lowered
from ..solvers import SolveOptions
from ..solvers.base import Progress
from ..util.workers import Parallelism
from ..verify.primal import Primal, pattern_columns, search, verify_columns
from ..verify.settle import LipschitzResult, describe_output, relative_gap, unscale
from . import checkpoint
from .checkpoint import Snapshot
from .export import open_library, write_library
from .node import Candidate, NodeConfig, node_problem
from .search import Limits, run

@dataclass(frozen=True)
class BabOptions:
    """Branch-and-bound settings beyond the solver's (SolveOptions)."""

    workers: int = 1
    scheduler: str | None = None
    tls_ca: str | None = None         # a tls:// scheduler's certificates (Dask Security)
    tls_cert: str | None = None
    tls_key: str | None = None
    batch: int = 4                    # nodes split per round (fixed: results do not depend
    node_limit: int | None = None     # on the number of workers)
    # measured on benchmarks/bab.py A-0.1 / A-0.15 (hand-off at 12/16/22/26/30 binaries,
    # 2 or 4 candidates): 26 and 2 were fastest (4.7 s / 14.2 s against 7.6 s / > 60 s)
    mip_binaries: int = 26
    mip_seconds: float = 10.0
    bounds: str = "auto"
    candidates: int = 2               # split entries measured per node
    checkpoint: str | None = None     # write the search state here (each batch and at a stop)
    resume: str | None = None         # continue the run saved here (and checkpoint to it)
    export_nodes: str | None = None   # write the open nodes' MIPs here as a library at the stop


def _checkpointing(p: Problem, cfg: NodeConfig, limits: Limits, bab: BabOptions, certify
                   ) -> tuple[Snapshot | None, checkpoint.Saver]:
    """The state to start from (``bab.resume``) and the saver of each round's state to
    ``bab.checkpoint`` (default: the resumed file); both checked before any work."""
    target = bab.checkpoint or bab.resume
    if target is None:
        return None, checkpoint.Saver()
    settings = dict(asdict(cfg), batch=bab.batch, gap=limits.gap, gap_abs=limits.gap_abs)
    root = lower_problem(node_problem(p.network, p.domain, p.query, (), cfg.bounds)).mip
    fp = checkpoint.run_fingerprint(root, settings)
    start = None if bab.resume is None else checkpoint.load(bab.resume, fp, certify)
    if target != bab.resume:
        checkpoint.check_target(target, fp)
    return start, checkpoint.Saver(target, fp)


def solve_bab(p: Problem, options: SolveOptions | None = None, bab: BabOptions | None = None,
              low: Lowered | None = None, primal: Primal | None = None,
              state: tuple[Snapshot | None, checkpoint.Saver] | None = None) -> LipschitzResult:
    """The constant of the compiled query ``p`` by branch and bound over its box.

    ``primal``: the primal side's result when already searched; ``state``: the search state
    to continue (None: a fresh run) and the saver that keeps its state at the stop, in memory
    (lipc.bab.auto measures a short run, then goes on from where it stopped); without it, the
    files of ``bab.resume`` / ``bab.checkpoint``."""
    opts = options or SolveOptions()
    bab = bab or BabOptions()
    low = low if low is not None else lower_problem(p)

    def certify(c: Candidate):
        w = verify_columns(p, low, pattern_columns(p, low, c.x, c.pattern, c.seed))
        return w.value, w

    cfg = NodeConfig(bounds=bab.bounds, mip_binaries=bab.mip_binaries,
                     mip_seconds=bab.mip_seconds, solver=opts.solver, seed=opts.seed,
                     candidates=bab.candidates)
    limits = Limits(opts.time_limit, bab.node_limit, opts.gap, opts.gap_abs)
    par = Parallelism(bab.workers, bab.scheduler, bab.tls_ca, bab.tls_cert, bab.tls_key)
    start, saver = state if state is not None else _checkpointing(p, cfg, limits, bab, certify)
    library = None if bab.export_nodes is None else open_library(bab.export_nodes)
    found = []                        # the primal side, run while the root is bounded

    def primal_side():
        found.append(primal if primal is not None else search(p, low, seed=opts.seed))
        return found[0].value, found[0].witness

    t0 = time.perf_counter()
    progress = Progress("bab", opts.progress, t0=t0, unit=float(2.0 ** p.scale_exp))
    try:
        out = run(p.network, p.domain, p.query, cfg, limits, certify, par, bab.batch,
                  progress=lambda n, lo, up: progress(n, lo, up),
                  start=start, on_round=saver, primal=primal_side)
    finally:
        progress.close()
        saver.flush()                         # the stop's state, whatever stopped the run
    if library is not None:
        write_library(library, p, saver.last, out.lower, out.status, cfg.bounds)
    # a normalised problem (lipc.api compiles with normalize=True) back in the model's units,
    # on a copy: the search state keeps its witness in the problem's units (lipc.bab.auto goes
    # on from a state kept in memory)
    witness = copy.copy(out.witness)
    up = unscale(p, witness)
    lower = up(out.lower)
    upper = None if out.upper == float("inf") else up(out.upper)
    value = lower if out.status == "optimal" else None
    side = None if not found else dict(value=up(found[0].value),      # None: stopped before
                                       seconds=round(found[0].seconds, 6))
    stats = dict(p.stats(), bab=out.stats, primal=side,
                 timings={k: round(v, 6) for k, v in p.timings.items()})
    message = {"stalled": "every open node is too narrow to split; reporting the interval",
               "unverified": "the verified value does not agree with the node solvers' bounds "
                             "(a solver's claimed optimum is wrong); reporting the interval"}.get(out.status, "")
    return LipschitzResult(out.status, value, lower, upper, lower,
                           relative_gap(lower, upper), out.seconds, out.stats["nodes"],
                           f"bab({opts.solver})", p.query.input_norm.name, describe_output(p),
                           p.domain.description, stats, witness, message)
