"""The best-first branch-and-bound loop and its global interval.

Every open node carries a certified upper bound of the constant on its box; the global upper
bound is the largest of them (with the closed nodes' exact values, the pruned nodes' bounds and
the parents whose children are being bounded), the global lower bound the best verified point.
Nodes are bounded in deterministic batches: the ``batch`` open nodes with the largest bounds
are split, their children bounded (in parallel on ``lipc.workers``), and the results merged in
the order of their keys, so a run depends on the number of nodes explored and never on which
worker finished first.  The workers are started once per run (lipc.util.workers.Pool) and a
batch's nodes are handed out likeliest-longest first (:func:`_rank`); ``stats`` say what the
batches allow: ``node_seconds`` (the work), ``span_2_workers`` (the batches' time on 2 workers,
from the same node seconds), ``node_cpu`` and ``span_2_cpu`` (the same by the nodes' CPU
seconds, robust to the machine's load) and ``round_seconds`` (the batches' wall time, the
certifying of node solutions as they arrive and the primal side, ``primal_seconds``, included:
with the span, the overhead per batch).  Any stop (gap closed, time, node limit, Ctrl-C) returns the interval.
A run starts from a Snapshot (lipc.bab.checkpoint) and hands ``on_round`` one at every
consistent point: before each batch, and at a stop other than an interrupt (whose state is the
last batch's snapshot: the batch in flight is simply redone).
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..core.network import Network
from ..question.domain import Domain
from ..question.query import Query
from ..util.workers import Parallelism, Pool
from .checkpoint import Pending, Snapshot
from .node import Candidate, NodeConfig, NodeResult, bound_node, children

Certify = Callable[[Candidate], tuple[float | None, object]]

AGREEMENT = 1e-6     # as lipc.api: verified value against a solver's optimum

@dataclass
class Limits:
    time_limit: float | None = None
    node_limit: int | None = None
    gap: float = 1e-7                 # relative: optimal when upper - lower <= gap * |upper|
    gap_abs: float = 1e-9


@dataclass
class SearchOutcome:
    status: str                       # optimal, time_limit, node_limit, interrupted, stalled
    lower: float | None
    upper: float
    witness: object
    seconds: float
    stats: dict = field(default_factory=dict)


@dataclass
class _State:
    open: list = field(default_factory=list)        # heap of (-upper, key, NodeResult)
    lower: float | None = None
    witness: object = None
    done_upper: float = -np.inf                       # closed and pruned nodes
    nodes: int = 0
    pruned: int = 0
    closed: int = 0
    hand_offs: int = 0
    batches: int = 0

    def bound(self, expanding: list[Pending]) -> float:
        """The largest node bound (closed, pruned, open, and the nodes not bounded yet: their
        parent's bound)."""
        if self.nodes == 0:
            return np.inf                                   # not even the root is bounded
        ups = [self.done_upper] + [-e[0] for e in self.open[:1]] + [q.bound for q in expanding]
        return float(max(ups))

    def upper(self, expanding: list[Pending]) -> float:
        return max(self.bound(expanding), -np.inf if self.lower is None else self.lower)

    def slack(self, lim: Limits) -> float:
        return 0.0 if self.lower is None else max(lim.gap_abs, lim.gap * abs(self.lower))

    def offer(self, value: float | None, witness: object, lim: Limits) -> None:
        """A verified lower bound: the incumbent when it is better; prunes."""
        if value is not None and (self.lower is None or value > self.lower):
            self.lower, self.witness = value, witness
            self.prune(lim)

    def merge(self, r: NodeResult, lim: Limits, certified: tuple | None) -> None:
        """Add a bounded node; ``certified``: its candidate's verified (value, witness)."""
        self.nodes += 1
        self.hand_offs += int(r.mip)
        if certified is not None:
            self.offer(*certified, lim)
        if r.closed:
            self.closed += 1
            self.done_upper = max(self.done_upper, r.upper)
        else:                                   # r.split None: cannot split, stays open
            heapq.heappush(self.open, (-r.upper, r.key, r))
        self.prune(lim)

    def prune(self, lim: Limits) -> None:
        if self.lower is None:
            return
        cut = self.lower + self.slack(lim)
        keep = [e for e in self.open if -e[0] > cut]
        for e in self.open:
            if -e[0] <= cut:
                self.pruned += 1
                self.done_upper = max(self.done_upper, -e[0])
        if len(keep) != len(self.open):
            heapq.heapify(keep)
            self.open = keep

    def snapshot(self, pending: list[Pending]) -> Snapshot:
        return Snapshot([e[2] for e in sorted(self.open)], list(pending), self.lower,
                        self.witness, self.done_upper, self.nodes, self.pruned, self.closed,
                        self.hand_offs, self.batches)

    @classmethod
    def restore(cls, s: Snapshot) -> "_State":
        heap = [(-r.upper, r.key, r) for r in s.open]
        heapq.heapify(heap)
        return cls(heap, s.lower, s.witness, s.done_upper, s.nodes, s.pruned, s.closed,
                   s.hand_offs, s.batches)


# what every node of the current run shares, for local worker processes: they are forked from
# the driver and inherit it (a query's seed set may hold closures, which pickle cannot send);
# a Dask cluster gets the objects themselves (cloudpickle), the network without its reference
# evaluator (nodes never use it: certification happens in the driver)
_SHARED: dict[str, tuple] = {}


def _bound_timed(network: Network, domain: Domain, query: Query, key: tuple, splits: tuple,
                 cfg: NodeConfig, inherited) -> NodeResult:
    """``bound_node`` with its CPU seconds in ``stats["cpu_seconds"]``: a node's wall seconds
    grow with the machine's load, its CPU seconds much less (the batches' spans use both)."""
    c0 = time.process_time()
    res = bound_node(network, domain, query, key, splits, cfg, inherited)
    res.stats["cpu_seconds"] = time.process_time() - c0
    return res


def _bound_shared(token: str, key: tuple, splits: tuple, cfg: NodeConfig,
                  inherited) -> NodeResult:
    network, domain, query = _SHARED[token]
    return _bound_timed(network, domain, query, key, splits, cfg, inherited)


def _jobs(token: str, par: Parallelism, nodes, cfg):
    if par.backend == "processes":
        return _bound_shared, [(_name(q.key), (token, q.key, q.splits, cfg, q.inherited)) for q in nodes]
    network, domain, query = _SHARED[token]
    if par.backend == "dask":
        network = replace(network, reference=None)
    return _bound_timed, [(_name(q.key), (network, domain, query, q.key, q.splits, cfg,
                                           q.inherited)) for q in nodes]


def _name(key: tuple) -> str:
    return "-".join(map(str, key)) or "root"


def run(network: Network, domain: Domain, query: Query, cfg: NodeConfig, limits: Limits,
        certify: Certify, par: Parallelism = Parallelism(), batch: int = 4,
        progress: Callable[[int, float | None, float], None] | None = None,
        start: Snapshot | None = None, on_round: Callable[[Snapshot], None] | None = None,
        primal: Callable[[], tuple[float | None, object]] | None = None) -> SearchOutcome:
    """Branch and bound on the neurons of the query; ``certify(candidate)`` gives a node
    solution's verified (value, witness); ``progress(nodes, lower, upper)`` after every batch;
    ``start`` a stopped run's state to continue (its nodes count towards the node limit);
    ``on_round(snapshot)`` see above; ``primal()`` the primal side, called once the first
    batch is with the workers (it runs while they bound it: with one worker, before), its
    verified (value, witness) the incumbent before any node is merged, so the run is the
    same either way."""
    t0 = time.perf_counter()
    token = f"{id(network)}-{t0}"
    _SHARED[token] = (network, domain, query)
    st = _State() if start is None else _State.restore(start)
    pending = [Pending((), (), np.inf)] if start is None else list(start.pending)
    expanding = list(pending)               # bounds of the nodes not bounded yet
    rank: dict[tuple, int] = {}             # key -> place of a child in its batch (_rank)
    timing = dict.fromkeys(("node_seconds", "span_2_workers", "node_cpu", "span_2_cpu",
                            "round_seconds", "primal_seconds"), 0.0)
    status = None
    try:
        with Pool(par) as pool:             # after _SHARED is set: forked workers see it
            while True:
                if on_round is not None:
                    on_round(st.snapshot(pending))
                held: list[Pending] = []
                if limits.node_limit is not None:   # the rest waits (and keeps its parent's bound)
                    room = max(0, limits.node_limit - st.nodes)
                    pending, held = pending[:room], pending[room:]
                node_cfg = cfg
                if limits.time_limit is not None:   # a hand-off or an LP never outlives the run
                    left = max(0.1, limits.time_limit - (time.perf_counter() - t0))
                    node_cfg = replace(cfg, stop_at=time.time() + left)
                if st.lower is not None:            # hand-offs look only above the pruning line
                    node_cfg = replace(node_cfg, cutoff=st.lower + st.slack(limits))
                order = sorted(pending, key=lambda q: rank.get(q.key, 0))
                fn, jobs = _jobs(token, par, order, node_cfg)
                t1 = time.perf_counter()
                arriving = pool.run(fn, jobs)
                if primal is not None:
                    st.offer(*primal(), limits)
                    primal = None
                    timing["primal_seconds"] = time.perf_counter() - t1
                results, certified = {}, {}
                for name, r in arriving:            # certified while the others still run
                    results[name] = r
                    if r.candidate is not None:
                        certified[name] = certify(r.candidate)
                timing["round_seconds"] += time.perf_counter() - t1
                _time_batch(timing, [results[name] for name, _ in jobs])
                for name in sorted(results, key=_key_order):
                    st.merge(results[name], limits, certified.get(name))
                pending = expanding = held
                st.batches += 1
                upper = st.upper(expanding)
                if progress is not None:
                    progress(st.nodes, st.lower, upper)
                status = _stop(st, limits, upper, t0, bool(held))
                if status is not None:
                    break
                pending, stuck, parents = [], [], 0
                while st.open and parents < batch:
                    e = heapq.heappop(st.open)
                    if e[2].split is None:
                        stuck.append(e)
                        continue
                    parents += 1
                    for k, s, inh in children(e[2]):
                        pending.append(Pending(k, s, e[2].upper, inh))
                        rank[k] = _rank(e[2])
                for e in stuck:
                    heapq.heappush(st.open, e)
                expanding = pending
                if not expanding:
                    status = "stalled"
                    break
            if on_round is not None:
                on_round(st.snapshot(expanding))
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        _SHARED.pop(token, None)
    upper = st.upper(expanding)
    if status == "optimal" and not _closed(st, upper, limits, bool(expanding)):
        # every node closed, but the verified value does not reproduce the solvers' optima
        status = "unverified"
    if st.lower is not None and st.lower > st.bound(expanding) + st.slack(limits):
        # a verified point above every node's bound: some node's bound (a solver's claimed
        # optimum) is wrong; the interval is still reported, never a value
        status = "unverified"
    stats = dict(nodes=st.nodes, pruned=st.pruned, closed=st.closed,
                 open=len(st.open) + len(expanding),            # waiting ones too
                 mip_hand_offs=st.hand_offs, batches=st.batches, workers=par.workers,
                 scheduler=par.scheduler, **{k: round(v, 6) for k, v in timing.items()})
    return SearchOutcome(status, st.lower, upper, st.witness, time.perf_counter() - t0, stats)


def _rank(parent: NodeResult) -> int:
    """Where a child goes in its batch's hand-out order (smallest first): the likely longest
    first, so that no worker starts a long node while the others run out of work.  A node
    handed to the MIP takes 1-3 s, one bounded by its LP 0.3-0.6 s (A-0.15 of
    benchmarks/bab.py), and a child is handed off when its binaries are few: the fewer its
    parent's, the likelier.  On A-0.15's 27 nodes this order allows 2 workers 1.86x (the
    children in key order 1.75x, the best order by their measured seconds 1.87x).  The order
    changes which worker runs a node, never the result: results merge in key order."""
    return parent.binaries


def _time_batch(timing: dict, done: list[NodeResult]) -> None:
    """Add a batch's nodes (in the order they were handed out) to ``timing``: the work, and
    the batch's time on 2 workers that each take the next node when free (the pool's rule),
    by the nodes' wall seconds and by their CPU seconds, so the 2-worker speed-up the batches
    allow can be read off a 1-worker run on a loaded machine."""
    for work, span, of in (("node_seconds", "span_2_workers", lambda r: r.seconds),
                           ("node_cpu", "span_2_cpu", lambda r: r.stats["cpu_seconds"])):
        free = [0.0, 0.0]
        for r in done:
            heapq.heapreplace(free, free[0] + of(r))
        timing[work] += sum(of(r) for r in done)
        timing[span] += max(free)


def _key_order(name: str) -> tuple:
    return () if name == "root" else tuple(int(t) for t in name.split("-"))


def _closed(st: _State, upper: float, lim: Limits, waiting: bool) -> bool:
    """The interval closed: to the gap, or to the verification tolerance (1e-6 relative) once
    every node is closed by its own proof (none open, none ``waiting`` to be bounded)."""
    if st.lower is None:
        return False
    tol = (st.slack(lim) if st.open or waiting
           else max(st.slack(lim), AGREEMENT * max(1.0, abs(st.lower))))
    return upper - st.lower <= tol


def _stop(st: _State, lim: Limits, upper: float, t0: float, waiting: bool) -> str | None:
    if not (st.open or waiting) or _closed(st, upper, lim, waiting):
        return "optimal"
    if lim.node_limit is not None and st.nodes >= lim.node_limit:
        return "node_limit"
    if lim.time_limit is not None and time.perf_counter() - t0 >= lim.time_limit:
        return "time_limit"
    return None
