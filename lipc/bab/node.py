"""One branch-and-bound node: the query with some unstable neurons fixed, compiled and bounded.

A node is a list of splits ``(z, j, side)``: pre-activation entry ``z[j]`` is >= 0 (side 1) or
<= 0 (side 0).  The node is compiled by the compiler's own pipeline with one extra step before
the bound passes: each split clamps the entry's bounds (so its gate folds to a constant and
every bound downstream tightens through the symbolic and LP passes) and adds the row
``z[j] >= 0`` / ``<= 0`` (so the node's MIP and LP are exact restrictions, whatever the domain
kind: boxes, balls, polytopes).  Splitting neurons rather than the input box was measured on the
paper's synthetic shape: one split of a first-layer neuron takes a node from 30 to 17 binaries and
its LP bound from 0.61 to 0.26 (exact 0.229); halving the box left 29-30 binaries.  The best
halving of any input (LipBaB's split) lost to the best neuron split at every node measured: a
neuron-split path to depth 2 on the unit cube [0,1]^10, 4 and 7 on l_inf balls of radius 0.15 /
0.2 (benchmarks/bab_splits.py: the bound fell 1.1-9x more under the neuron split).

The node's constant is bounded from above by the smaller of the bound passes' objective bound
and the LP relaxation of the node's MIP; an empty node (LP infeasible) is closed.  A node with
few binaries is handed to the MIP solver (within a time budget); a proved optimum closes it.
Its best solution is returned as a *candidate* (input point, activation pattern, seed): the
driver certifies it on the root query, whose witness region includes the split neurons' rows.

A child starts from its parent's bounds (every bound pass intersects with them: an entry the
parent decided needs no LP again), so bounds only tighten down the tree.  The split is chosen by
measured value: the unstable neurons are ranked by where the node's LP solution is loosest (the
McCormick gap |y - a u| of the switches each gate drives: the forward ReLU and, where most of
the objective's looseness is, the backward pass's v = a u; see SCORES), and for the first few
both children are bounded by the node's own LP with the entry's gate binary fixed, re-solved warm
in HiGHS (on A-0.15 of benchmarks/bab.py a node went from 0.61 s to 0.33 s, the split choice
from 0.12 s of recompiling four children to a few warm LP solves of ~4 ms each).  Node MIPs run without the solver's primal
heuristics: the incumbent comes from the primal side and the other nodes (measured 2x on
A-0.15's node MIPs of 18-22 binaries).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..compiler.pipeline import PIPELINE, CompileOptions, Problem, build_problem, lower_problem
from ..core.ir import Bounds, Conditional, LinearConstraint, Switch
from ..core.network import Network
from ..errors import LipcError, TimeLimitError
from ..question.domain import Domain
from ..question.query import Query
from ..solvers import SolveOptions, Status, solve_mip
from ..util.deadline import deadline

Split = tuple[str, int, int]          # (pre-activation node, entry, side: 1 means >= 0)
# a node's bounds handed to its children: node name -> (lo, hi); sound for every descendant, whose
# feasible set lies inside the parent's
Inherited = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class NodeConfig:
    """How nodes are bounded (the same for every node: results depend on nothing else)."""

    bounds: str = "auto"              # bound passes for the node's compile
    mip_binaries: int = 26            # hand a node with at most this many binaries to the MIP
    mip_seconds: float = 10.0         # time budget of one hand-off
    # the run's end on the wall clock (time.time(): the same in worker processes and on cluster
    # nodes); a node's bound tightening, LPs and hand-off stop there (the search sets it)
    stop_at: float | None = None
    solver: str = "auto"
    candidates: int = 2               # split entries measured per node
    score: str = "gap"                # how they are ranked: a key of SCORES
    seed: int = 0
    # the incumbent (plus the closing gap) when the batch started: a hand-off only has to find
    # solutions above it; below it the node is pruned (the search sets it per batch)
    cutoff: float | None = None

    def left(self) -> float | None:
        """Seconds until ``stop_at`` (at least a sliver), or None without a limit."""
        return None if self.stop_at is None else max(0.05, self.stop_at - time.time())


@dataclass
class Candidate:
    """A point and activation pattern to certify on the root query."""

    x: np.ndarray
    pattern: dict[str, np.ndarray]    # forward conditional -> 0/1 per entry
    seed: np.ndarray | None           # the seed c of the solution (None: C is enumerated)
    claimed: float                    # the node solver's objective value


@dataclass
class NodeResult:
    """What bounding a node found; ``closed`` means ``upper`` is the node's exact value."""

    key: tuple                        # path from the root: (0, 1, 1, ...) for determinism
    splits: tuple[Split, ...]
    upper: float
    candidate: Candidate | None = None
    closed: bool = False
    split: tuple[str, int] | None = None
    binaries: int = 0
    mip: bool = False                 # handed to the MIP solver
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)
    bounds: Inherited | None = field(default=None, repr=False)   # for the children

    def to_dict(self) -> dict:
        return asdict(self)


def _apply_splits(splits: tuple[Split, ...], inherited: Inherited | None):
    """The pipeline step fixing the split neurons (see the module docstring), after seeding the
    graph with the parent's bounds: the bound passes intersect every node's new bounds with
    them, so entries the parent decided stay decided and need no LP of their own."""
    def step(p: Problem) -> None:
        g = p.graph
        for name, (lo, hi) in (inherited or {}).items():
            g.bounds[name] = Bounds(lo, hi, "parent")
        for z, j, side in splits:
            n = g.op(z).size
            lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
            prev = g.bounds.get(z)
            if prev is not None:
                lo, hi = prev.lo.copy(), prev.hi.copy()
            row = np.zeros((1, n))
            row[0, j] = 1.0
            if side:
                lo[j] = max(lo[j], 0.0)
                g.constraints.append(LinearConstraint([(z, row)], np.zeros(1), np.full(1, np.inf)))
            else:
                hi[j] = min(hi[j], 0.0)
                g.constraints.append(LinearConstraint([(z, row)], np.full(1, -np.inf), np.zeros(1)))
            g.bounds[z] = Bounds(lo, hi, "split")
    return step


def node_problem(network: Network, domain: Domain, query: Query, splits: tuple[Split, ...],
                 bounds: str, inherited: Inherited | None = None) -> Problem:
    """The query restricted to the node's splits (no IR passes: every forward conditional
    keeps its name, so the node's pattern maps onto the root's); ``inherited``: the parent's
    bounds, intersected with the node's own."""
    pipeline = list(PIPELINE)
    at = [name for name, _ in pipeline].index("bounds")
    pipeline.insert(at, ("splits", _apply_splits(splits, inherited)))
    return build_problem(network, domain, query, CompileOptions(bounds=bounds, passes=False),
                         pipeline=pipeline)


def _compile_within(network: Network, domain: Domain, query: Query, splits: tuple[Split, ...],
                    cfg: NodeConfig, inherited: Inherited | None) -> Problem:
    """The node's problem by the run's end (``cfg.stop_at``): the search checks its limit only
    between batches, and a batch of eight unit-cube children spends ~17 s in bound tightening
    (``--time-limit 20`` stopped at 26.5 s of search).  At the deadline the LP walk stops
    (entries keep their sound bounds so far); a symbolic pass cut short falls back to interval
    bounds from the parent's."""
    with deadline(cfg.left()):
        try:
            return node_problem(network, domain, query, splits, cfg.bounds, inherited)
        except TimeLimitError:
            pass
    return node_problem(network, domain, query, splits, "interval", inherited)


def inherited_bounds(p: Problem) -> Inherited:
    """The node's bounds of every non-input node of its query, for its children."""
    g = p.graph
    return {n: (g.bounds[n].lo, g.bounds[n].hi) for n in g.needed(p.objective)
            if n in g.bounds and n != p.network.input}


def objective_bound(p: Problem) -> float:
    """The bound passes' certified upper bound of the node's objective."""
    return float(p.graph.bounds[p.objective].hi[0])


class NodeLP:
    """The LP relaxation of a node's MIP, kept in HiGHS: its optimum bounds the node's constant
    from above, and strong branching re-solves it warm (dual simplex from the node's basis)
    with one gate binary fixed, instead of compiling and solving each child from scratch."""

    def __init__(self, low, seconds: float | None = None):
        import highspy as hs

        from ..solvers.highs import build_highs
        self.hs, self.low = hs, low
        self.h = build_highs(replace(low.mip, integer=np.zeros_like(low.mip.integer)))
        self.h.setOptionValue("primal_feasibility_tolerance", 1e-9)
        self.h.setOptionValue("dual_feasibility_tolerance", 1e-9)
        if seconds is not None:       # a 784-256-256-10 root LP takes 15 s: stop at the run's end
            self.h.setOptionValue("time_limit", max(0.01, float(seconds)))
        self.value = self._solve()
        # the relaxation's solution (for the split scores), before any strong-branching solve
        self.x = np.asarray(self.h.getSolution().col_value) if np.isfinite(self.value) else None

    def _solve(self) -> float:
        """The optimum; -inf when infeasible (the splits leave no point of the domain), +inf
        when HiGHS fails or runs out of time (no bound)."""
        self.h.run()
        status = self.h.getModelStatus()
        if status == self.hs.HighsModelStatus.kInfeasible:
            return -np.inf
        if status != self.hs.HighsModelStatus.kOptimal:
            return np.inf
        return float(self.h.getInfo().objective_function_value)

    def fixed(self, col: int, value: float) -> float:
        """The optimum with column ``col`` fixed to ``value`` (a relaxation of the child whose
        gate is ``value``: the node's big-M rows with the binary at 0 / 1 are the split)."""
        lo, hi = float(self.low.mip.lb[col]), float(self.low.mip.ub[col])
        self.h.changeColBounds(col, value, value)
        out = self._solve()
        self.h.changeColBounds(col, lo, hi)
        return out


def forward_unstable(p: Problem) -> list[tuple[str, str, int, float]]:
    """(conditional, pre-activation node, entry, relaxation area -lo*hi/(hi-lo)) of every
    unstable forward neuron of the node, largest area first (ties by name and entry:
    deterministic).  The norm's conditionals (gradient signs) were measured as split candidates
    too: on A-0.15 of benchmarks/bab.py a sign split bounds the children like a neuron split
    (0.45 / 0.50 from 0.52) but leaves them one binary less instead of three, and no node got
    small enough for a hand-off within 60 s."""
    g = p.graph
    out = []
    for name in g.topo():
        op = g.op(name)
        if isinstance(op, Conditional) and g.stage(name) == "forward":
            zb = g.bounds[op.src]
            for j in np.flatnonzero((zb.lo < 0) & (zb.hi > 0)):
                lo, hi = float(zb.lo[j]), float(zb.hi[j])
                out.append((name, op.src, int(j), -lo * hi / (hi - lo)))
    out.sort(key=lambda t: (-t[3], t[1], t[2]))
    return out


GAP_TOL = 1e-9               # a gap this small (relative) is the LP solver's rounding, not a gap


def mccormick_gaps(p: Problem, lp: NodeLP) -> dict[str, np.ndarray]:
    """Per forward conditional, how far the node's LP solution is from exact at its neuron:
    the sum of |y - a u| over every switch y = a u it gates (the forward ReLU h = a z and the
    backward pass's v = a u of the same neuron).  Only a gate the LP leaves fractional has a
    gap; splitting it removes the gap from both children's relaxations."""
    g, low, out = p.graph, lp.low, {}
    for name in g.topo():
        op = g.op(name)
        if (not isinstance(op, Switch) or g.stage(op.gate) != "forward"
                or not {name, op.src, op.gate} <= low.values.keys()):
            continue
        y, u, a = (low.value_of(n, lp.x) for n in (name, op.src, op.gate))
        out[op.gate] = out.get(op.gate, 0.0) + np.abs(y - a * u)
    return out


def _by_gap(p: Problem, lp: NodeLP) -> list[tuple[str, str, int, float]]:
    """The unstable forward neurons by McCormick gap, gaps under GAP_TOL of the LP bound's
    scale counting as none (ties, and an unsolved LP: by area)."""
    if lp.x is None:
        return forward_unstable(p)
    gaps = mccormick_gaps(p, lp)
    tol = GAP_TOL * max(1.0, abs(lp.value))
    ranked = [(c, z, j, float(gaps[c][j]) if c in gaps and gaps[c][j] > tol else 0.0, area)
              for c, z, j, area in forward_unstable(p)]
    ranked.sort(key=lambda t: (-t[3], -t[4], t[1], t[2]))
    return [t[:4] for t in ranked]


# split scores: (node problem, node LP) -> its unstable forward neurons (conditional,
# pre-activation node, entry, score), best first.  Measured on benchmarks/bab.py's instances
# (CPU seconds, one thread, "gap" and "area" in the same process in both orders)
# 11.8 / 12.6 s against 13.2 / 14.7 s (23 nodes against 27), A-0.2 41.7 / 40.2 against
# 50.7 / 46.1 (73 / 71 nodes), B-0.15 2.7 / 3.1 against 4.1 / 3.9; C-cube's upper bound after
# 60 s 3.67 against 3.58.  Measured and dropped: the gap of the backward switches alone (A-0.2
# 107 nodes, 58.8 s), a (1 - a) (hi - lo) of the switch inputs (A-0.2 and C-cube worse),
# 4 or 8 candidates, and ranking the measured children by the sum or the product of their
# improvements instead of the worse one (within noise).
SCORES = {
    "area": lambda p, lp: forward_unstable(p),
    "gap": _by_gap,
}


def choose_split(p: Problem, lp: NodeLP, cfg: NodeConfig) -> tuple[str, int] | None:
    """Of the ``cfg.candidates`` unstable neurons scored best by ``SCORES[cfg.score]``, the one
    whose worse child has the smallest LP bound (the node's LP with the gate fixed, warm)."""
    best, best_val = None, np.inf
    for cond, z, j, _ in SCORES[cfg.score](p, lp)[: cfg.candidates]:
        col = int(lp.low.values[cond].cols[j])
        worst = max(lp.fixed(col, side) for side in (0.0, 1.0)) if col >= 0 else np.inf
        if best is None or worst < best_val:
            best, best_val = (z, j), worst
    return best


def _candidate(p: Problem, low, x: np.ndarray, claimed: float) -> Candidate:
    """The node MIP solution as input point, full forward pattern and seed."""
    pattern = {}
    for name in low.values:
        if isinstance(p.graph.op(name), Conditional) and p.graph.stage(name) == "forward":
            pattern[name] = (low.value_of(name, x) > 0.5).astype(int)
    seed = p.graph.role("seed")
    c = low.value_of(seed, x) if seed in low.values else None
    return Candidate(low.value_of(p.network.input, x), pattern, c, claimed)


NODE_FEAS_TOL = 1e-7         # HiGHS's default primal feasibility tolerance
NODE_INT_TOL = 1e-6          # HiGHS's default MIP feasibility (integrality) tolerance


def _hand_off(p: Problem, low, cfg: NodeConfig, res: NodeResult) -> None:
    """Solve the node's MIP within its budget; a proved optimum closes the node.  A numerical
    failure of the solver leaves the node open (it is bounded by LP and split instead)."""
    try:
        # HiGHS 1.16 was measured claiming a wrong optimum (0.1962 against 0.2086, verified by
        # CBC and SCIP) on a node MIP of the synthetic shape with threads=1 and feasibility
        # tolerances of 1e-9, with or without presolve; with its default tolerances (1e-7
        # primal, 1e-6 integrality) it finds 0.2086.  A node's bound only has to be a sound
        # upper bound, and the value reported is certified separately, so node MIPs run with
        # the solver's default tolerances and without presolve.
        left = cfg.left()
        budget = cfg.mip_seconds if left is None else min(cfg.mip_seconds, left)
        out = solve_mip(low.mip, SolveOptions(solver=cfg.solver, time_limit=budget,
                                              seed=cfg.seed, retry=False, presolve=False,
                                              heuristics=False, cutoff=cfg.cutoff,
                                              feas_tol=NODE_FEAS_TOL, int_tol=NODE_INT_TOL))
    except LipcError as e:
        res.stats["mip_error"] = str(e)
        return
    res.mip = True
    if out.status == Status.INFEASIBLE:          # nothing above the cutoff: pruned by its proof
        res.upper, res.closed = min(res.upper, cfg.cutoff), True
        return
    if out.bound is not None:                    # with a cutoff: a bound above it
        res.upper = min(res.upper, out.bound if cfg.cutoff is None else max(out.bound, cfg.cutoff))
    if out.x is not None:
        res.candidate = _candidate(p, low, out.x, out.incumbent)
    res.closed = out.status == "optimal"
    res.stats["mip_nodes"] = out.nodes


def bound_node(network: Network, domain: Domain, query: Query, key: tuple,
               splits: tuple[Split, ...], cfg: NodeConfig,
               inherited: Inherited | None = None) -> NodeResult:
    """Compile, bound and (when small) solve one node; pure given its arguments except for a
    MIP hand-off stopped by its time budget."""
    t0 = time.perf_counter()
    p = _compile_within(network, domain, query, splits, cfg, inherited)
    low = lower_problem(p)
    res = NodeResult(key, splits, objective_bound(p), binaries=int(low.mip.meta["binaries"]))
    lp = NodeLP(low, cfg.left())
    res.upper = min(res.upper, lp.value)
    if res.upper == -np.inf:                         # the splits leave no point: empty node
        res.closed = True
    elif res.binaries <= cfg.mip_binaries or not forward_unstable(p):
        _hand_off(p, low, cfg, res)       # small, or nothing left to split on
    if not res.closed:
        res.split = choose_split(p, lp, cfg)
        res.bounds = inherited_bounds(p)
    res.seconds = time.perf_counter() - t0
    return res


def children(res: NodeResult) -> list[tuple[tuple, tuple[Split, ...], Inherited | None]]:
    """The two children of a node along its chosen neuron, with the node's bounds."""
    z, j = res.split
    return [(res.key + (side,), res.splits + ((z, j, side),), res.bounds) for side in (0, 1)]
