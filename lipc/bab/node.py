"""One branch-and-bound node: the query with some unstable neurons fixed, compiled and bounded.

A node is a list of splits ``(z, j, side)``: pre-activation entry ``z[j]`` is >= 0 (side 1) or
<= 0 (side 0).  The node is compiled by the compiler's own pipeline with one extra step before
the bound passes: each split clamps the entry's bounds (so its gate folds to a constant and
every bound downstream tightens through the symbolic and LP passes) and adds the row
``z[j] >= 0`` / ``<= 0`` (so the node's MIP and LP are exact restrictions, whatever the domain
kind: boxes, balls, polytopes).  Splitting neurons rather than the input box was measured on the
paper's synthetic shape: one split of a first-layer neuron takes a node from 30 to 17 binaries and
its LP bound from 0.61 to 0.26 (exact 0.229); halving the box left 29-30 binaries.

The node's constant is bounded from above by the smaller of the bound passes' objective bound
and the LP relaxation of the node's MIP; an empty node (LP infeasible) is closed.  A node with
few binaries is handed to the MIP solver (within a time budget); a proved optimum closes it.
Its best solution is returned as a *candidate* (input point, activation pattern, seed): the
driver certifies it on the root query, whose witness region includes the split neurons' rows.

The split is chosen by measured value: for the few unstable entries with the largest relaxation
area, both children are bounded cheaply (symbolic bounds + LP relaxation) and the entry whose
worse child has the smallest bound wins.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..compiler.pipeline import PIPELINE, CompileOptions, Problem, build_problem, lower_problem
from ..core.ir import Bounds, Conditional, LinearConstraint
from ..core.network import Network
from ..errors import LipcError
from ..question.domain import Domain
from ..question.query import Query
from ..solvers import SolveOptions, solve_mip

Split = tuple[str, int, int]          # (pre-activation node, entry, side: 1 means >= 0)


@dataclass(frozen=True)
class NodeConfig:
    """How nodes are bounded (the same for every node: results depend on nothing else)."""

    bounds: str = "auto"              # bound passes for the node's compile
    mip_binaries: int = 26            # hand a node with at most this many binaries to the MIP
    mip_seconds: float = 10.0         # time budget of one hand-off
    solver: str = "auto"
    candidates: int = 2               # split entries measured per node
    seed: int = 0


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

    def to_dict(self) -> dict:
        return asdict(self)


def _apply_splits(splits: tuple[Split, ...]):
    """The pipeline step fixing the split neurons (see the module docstring)."""
    def step(p: Problem) -> None:
        g = p.graph
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
                 bounds: str) -> Problem:
    """The query restricted to the node's splits (no IR passes: every forward conditional
    keeps its name, so the node's pattern maps onto the root's)."""
    pipeline = list(PIPELINE)
    at = [name for name, _ in pipeline].index("bounds")
    pipeline.insert(at, ("splits", _apply_splits(splits)))
    return build_problem(network, domain, query, CompileOptions(bounds=bounds, passes=False),
                         pipeline=pipeline)


def objective_bound(p: Problem) -> float:
    """The bound passes' certified upper bound of the node's objective."""
    return float(p.graph.bounds[p.objective].hi[0])


def lp_bound(low) -> float:
    """The LP relaxation's optimum of the node's MIP (an upper bound of the node's constant);
    -inf when the relaxation is infeasible (the splits leave no point of the domain)."""
    import highspy as hs

    from ..solvers.highs import build_highs
    flat = replace(low.mip, integer=np.zeros_like(low.mip.integer))
    h = build_highs(flat)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("dual_feasibility_tolerance", 1e-9)
    h.run()
    status = h.getModelStatus()
    if status == hs.HighsModelStatus.kInfeasible:
        return -np.inf
    if status != hs.HighsModelStatus.kOptimal:
        return np.inf
    return float(h.getInfo().objective_function_value)


def forward_unstable(p: Problem) -> list[tuple[str, int, float]]:
    """(pre-activation node, entry, relaxation area -lo*hi/(hi-lo)) of every unstable forward
    neuron of the node, largest area first (ties by name and entry: deterministic)."""
    g = p.graph
    out = []
    for name in g.topo():
        op = g.op(name)
        if isinstance(op, Conditional) and g.stage(name) == "forward":
            zb = g.bounds[op.src]
            for j in np.flatnonzero((zb.lo < 0) & (zb.hi > 0)):
                lo, hi = float(zb.lo[j]), float(zb.hi[j])
                out.append((op.src, int(j), -lo * hi / (hi - lo)))
    out.sort(key=lambda t: (-t[2], t[0], t[1]))
    return out


def child_bound(network, domain, query, splits, bounds: str = "symbolic") -> float:
    p = node_problem(network, domain, query, splits, bounds)
    return min(objective_bound(p), lp_bound(lower_problem(p)))


def choose_split(network, domain, query, p: Problem, splits, cfg: NodeConfig
                 ) -> tuple[str, int] | None:
    """The candidate entry whose worse child has the smallest cheap bound."""
    cands = forward_unstable(p)[: cfg.candidates]
    best, best_val = None, np.inf
    for z, j, _ in cands:
        worst = max(child_bound(network, domain, query, splits + ((z, j, side),))
                    for side in (0, 1))
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
        out = solve_mip(low.mip, SolveOptions(solver=cfg.solver, time_limit=cfg.mip_seconds,
                                              seed=cfg.seed, retry=False, presolve=False,
                                              feas_tol=NODE_FEAS_TOL, int_tol=NODE_INT_TOL))
    except LipcError as e:
        res.stats["mip_error"] = str(e)
        return
    res.mip = True
    if out.bound is not None:
        res.upper = min(res.upper, out.bound)
    if out.x is not None:
        res.candidate = _candidate(p, low, out.x, out.incumbent)
    res.closed = out.status == "optimal"
    res.stats["mip_nodes"] = out.nodes


def bound_node(network: Network, domain: Domain, query: Query, key: tuple,
               splits: tuple[Split, ...], cfg: NodeConfig) -> NodeResult:
    """Compile, bound and (when small) solve one node; pure given its arguments except for a
    MIP hand-off stopped by its time budget."""
    t0 = time.perf_counter()
    p = node_problem(network, domain, query, splits, cfg.bounds)
    low = lower_problem(p)
    res = NodeResult(key, splits, objective_bound(p), binaries=int(low.mip.meta["binaries"]))
    res.upper = min(res.upper, lp_bound(low))
    if res.upper == -np.inf:                         # the splits leave no point: empty node
        res.closed = True
    elif res.binaries <= cfg.mip_binaries or not forward_unstable(p):
        _hand_off(p, low, cfg, res)       # small, or nothing left to split on
    if not res.closed:
        res.split = choose_split(network, domain, query, p, splits, cfg)
    res.seconds = time.perf_counter() - t0
    return res


def children(res: NodeResult) -> list[tuple[tuple, tuple[Split, ...]]]:
    """The two children of a node along its chosen neuron."""
    z, j = res.split
    return [(res.key + (side,), res.splits + ((z, j, side),)) for side in (0, 1)]
