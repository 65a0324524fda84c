"""Optimisation-based bound tightening (OBBT): LP per open entry, and time-budgeted MIP.

``lp``: the same walk as :mod:`lipc.bounds.interval` and :mod:`lipc.bounds.symbolic` (symbolic bounds
first), but each node that matters (the input of a conditional or of a switch with an open gate)
is tightened by minimising and maximising each of its open entries over the LP relaxation of
*everything before it*.  The relaxation is built incrementally with lipc's own lowering rules
(:data:`lipc.lowering.rules.LOWERING_RULES`, so it is exactly the relaxation of the MIP that will be
written, with the bounds found so far as its big-M constants), pushed into one HiGHS model that
is re-solved warm for every objective.

Soundness: an LP optimum is only tolerance-accurate, so it is never used as a bound.  Every
solve's *row duals* y give, whatever their accuracy, the valid bound
``c·x >= sum_i y_i·side_i + sum_j min(r_j lb_j, r_j ub_j)`` with ``r = c - Aᵀy`` (duals of the
wrong sign on a one-sided row are zeroed); it is evaluated in float64 with a rigorous rounding
error term, like the interval bounds.

``mip``: after ``lp``, the hardest remaining open entries (gradient coordinates first: each
decided sign saves a binary) are bounded with the binaries enforced, by HiGHS's branch and bound
under a time budget.  A MIP dual bound cannot be verified like an LP one, so it is widened by a
safety margin (relative 1e-6 plus the leak a binary within HiGHS's integrality tolerance allows
through the largest big-M).
"""
from __future__ import annotations

import time

import numpy as np

from .interval import gamma
from ..util.deadline import expired
from .symbolic import objective_nodes, entries_that_matter, infer_symbolic, tighten_walk
from ..errors import LipcError
from ..core.ir import Bounds, Conditional, IRGraph
from ..lowering.builder import Builder, constraint_rows
from ..lowering.rules import LOWERING_RULES
from ..solvers.highs import quiet_highs
from ..core.sparse import nnz as sparse_nnz

MIP_BUDGET = 20.0          # seconds for ``--bounds mip`` (in total, on top of ``lp``)
MIP_ENTRY_LIMIT = 2.0      # seconds per bounded entry


def _highs():
    try:
        import highspy
    except ImportError:
        raise LipcError("--bounds lp/mip needs the HiGHS solver (a dependency of lipc): "
                        "pip install highspy") from None
    return highspy


class IncrementalLP:
    """The LP relaxation of the lowered graph, grown node by node, in HiGHS."""

    def __init__(self, graph: IRGraph, keep: set[str]):
        hs = _highs()
        self.hs = hs
        self.h = quiet_highs()
        self.h.setOptionValue("presolve", "off")
        self.h.setOptionValue("threads", 1)
        self.b = Builder(graph, keep)
        self.graph = graph
        self.lb = np.zeros(0)
        self.ub = np.zeros(0)
        self.integer = np.zeros(0, bool)
        self.rows_lo, self.rows_hi = np.zeros(0), np.zeros(0)
        self.A_r, self.A_c, self.A_v = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        self._chunks_cols = 0
        self._chunks_rows = 0
        self._done_constraints: set[int] = set()
        self.cost_col = -1
        self.solves = 0
        self.broken = False       # HiGHS refused part of the model (e.g. |values| >= 1e15)
        self.work = 0.0           # simplex iterations x LP rows, summed over the solves
        self.work_budget = np.inf

    # ---------------------------------------------------------------- building
    def lower(self, name: str) -> None:
        op = self.graph.op(name)
        self.b.values[name] = LOWERING_RULES[type(op)](self.b, name, op)
        for k, c in enumerate(self.graph.constraints):   # domain / seed-set rows, once
            if k not in self._done_constraints and all(n in self.b.values for n in c.nodes):
                self._done_constraints.add(k)
                constraint_rows(self.b, f"set{k}", c)
        self._push()

    def _push(self) -> None:
        b = self.b
        if len(b.lb) > self._chunks_cols:
            lb = np.concatenate(b.lb[self._chunks_cols:])
            ub = np.concatenate(b.ub[self._chunks_cols:])
            integ = np.concatenate(b.integer[self._chunks_cols:])
            self._chunks_cols = len(b.lb)
            n = lb.size
            st = self.h.addCols(n, np.zeros(n), lb, ub, 0, np.zeros(0, np.int32),
                                np.zeros(0, np.int32), np.zeros(0))
            self.broken |= st == self.hs.HighsStatus.kError
            self.lb, self.ub = np.concatenate([self.lb, lb]), np.concatenate([self.ub, ub])
            self.integer = np.concatenate([self.integer, integ])
        if len(b.row_ptr) > self._chunks_rows:
            counts = np.concatenate(b.row_ptr[self._chunks_rows:])
            idx = np.concatenate(b.row_idx[self._chunks_rows:])
            val = np.concatenate(b.row_val[self._chunks_rows:])
            lo = np.concatenate(b.row_lo[self._chunks_rows:])
            hi = np.concatenate(b.row_hi[self._chunks_rows:])
            self._chunks_rows = len(b.row_ptr)
            m = counts.size
            starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int32)
            st = self.h.addRows(m, lo, hi, idx.size, starts, idx.astype(np.int32), val)
            self.broken |= st == self.hs.HighsStatus.kError
            r0 = self.rows_lo.size
            self.A_r = np.concatenate([self.A_r, r0 + np.repeat(np.arange(m), counts)])
            self.A_c = np.concatenate([self.A_c, idx])
            self.A_v = np.concatenate([self.A_v, val])
            self.rows_lo = np.concatenate([self.rows_lo, lo])
            self.rows_hi = np.concatenate([self.rows_hi, hi])

    def set_col_bounds(self, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        lo = np.maximum(self.lb[cols], lo)
        hi = np.minimum(self.ub[cols], hi)
        self.lb[cols], self.ub[cols] = lo, hi
        self.h.changeColsBounds(len(cols), cols.astype(np.int32), lo, hi)

    # ---------------------------------------------------------------- solving
    def _set_objective(self, col: int, sign: float) -> None:
        if self.cost_col >= 0 and self.cost_col != col:
            self.h.changeColCost(self.cost_col, 0.0)
        self.h.changeColCost(col, sign)
        self.cost_col = col

    def lp_lower(self, col: int, sign: float) -> float:
        """A verified lower bound of sign * x[col] over the LP (-inf when the solve fails, or
        when HiGHS did not take the whole model: its duals would not match our rows)."""
        if self.broken or self.work > self.work_budget:
            return -np.inf
        self._set_objective(col, sign)
        self.h.run()
        self.solves += 1
        self.work += self.h.getInfo().simplex_iteration_count * max(1, self.rows_lo.size)
        if self.h.getModelStatus() != self.hs.HighsModelStatus.kOptimal:
            return -np.inf
        y = np.asarray(self.h.getSolution().row_dual, dtype=np.float64)
        if y.size != self.rows_lo.size:
            return -np.inf
        return self._dual_bound(col, sign, y)

    def _dual_bound(self, col: int, sign: float, y: np.ndarray) -> float:
        """sum_i y_i side_i + sum_j min(r_j lb_j, r_j ub_j), r = c - A^T y, rounded outward."""
        lo, hi = self.rows_lo, self.rows_hi
        y = np.where((y > 0) & ~np.isfinite(lo), 0.0, y)
        y = np.where((y < 0) & ~np.isfinite(hi), 0.0, y)
        n = self.lb.size
        c = np.zeros(n)
        c[col] = sign
        prod = self.A_v * y[self.A_r]
        r = c - np.bincount(self.A_c, weights=prod, minlength=n)
        # |fl(r) - r| <= gamma * (|c| + |A|^T |y|) (per column: at most its nnz + 1 terms)
        nnz_col = np.bincount(self.A_c, minlength=n)
        r_err = gamma(int(nnz_col.max(initial=0)) + 2) * (
            np.abs(c) + np.bincount(self.A_c, weights=np.abs(prod), minlength=n))
        r_lo, r_hi = r - r_err, r + r_err
        with np.errstate(invalid="ignore"):
            cand = np.stack([r_lo * self.lb, r_lo * self.ub, r_hi * self.lb, r_hi * self.ub])
        cand = np.where(np.isnan(cand), 0.0, cand)   # 0 * inf: a zero reduced cost
        col_terms = cand.min(axis=0)
        row_terms = np.where(y > 0, y * np.where(np.isfinite(lo), lo, 0.0),
                             y * np.where(np.isfinite(hi), hi, 0.0))
        total = float(np.sum(col_terms) + np.sum(row_terms))
        mag = float(np.sum(np.abs(col_terms)) + np.sum(np.abs(row_terms)))
        if not np.isfinite(total):
            return -np.inf
        return total - gamma(2 * (n + y.size) + 4) * mag - np.finfo(float).tiny

    def mip_lower(self, col: int, sign: float, seconds: float) -> float:
        """A lower bound of sign * x[col] with the binaries enforced (dual bound, widened)."""
        self._set_objective(col, sign)
        self.h.setOptionValue("time_limit", float(seconds))
        self.h.run()
        self.solves += 1
        info = self.h.getInfo()
        st = self.h.getModelStatus()
        if st not in (self.hs.HighsModelStatus.kOptimal, self.hs.HighsModelStatus.kTimeLimit):
            return -np.inf
        bound = float(info.mip_dual_bound)
        if not np.isfinite(bound):
            return -np.inf
        # safety margin: relative accuracy of the dual bound and the leak of a "binary" sitting
        # at the integrality tolerance through the largest big-M of the model
        tol = 1e-6 * max(1.0, abs(bound)) + 1e-6 * float(self.b.max_big_m) + 1e-7
        return bound - tol

    def enable_integers(self) -> None:
        idx = np.flatnonzero(self.integer).astype(np.int32)
        if idx.size:
            self.h.changeColsIntegrality(idx.size, idx,
                                         np.full(idx.size, self.hs.HighsVarType.kInteger))
        self.h.setOptionValue("mip_rel_gap", 1e-6)


def _tighten_entries(lp: IncrementalLP, graph: IRGraph, name: str, idx: np.ndarray,
                     solve) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bound the columns of ``name[idx]``; returns (entries, lo, hi) for entries with columns."""
    b = graph.bounds[name]
    v = lp.b.values[name]
    idx = idx[v.var[idx]]
    lo, hi = b.lo[idx].copy(), b.hi[idx].copy()
    for k, i in enumerate(idx):
        if expired():                 # the rest keep their sound bounds so far
            break
        col = int(v.cols[i])
        if hi[k] > 0:                 # the upper side matters only where it can be positive ...
            ub = -solve(col, -1.0)
            if ub < hi[k]:
                hi[k] = ub
        if lo[k] < 0 and hi[k] > 0:   # ... the lower side only while the sign is still open
            lb = solve(col, 1.0)
            if lb > lo[k]:
                lo[k] = lb
        if lo[k] > hi[k]:             # numerically crossed: keep the previous sound bounds
            lo[k], hi[k] = b.lo[i], b.hi[i]
        lp.set_col_bounds(np.array([col]), np.array([lo[k]]), np.array([hi[k]]))
    return idx, lo, hi


def _lp_walk(graph: IRGraph, source: str = "lp", work_budget: float = np.inf) -> IncrementalLP:
    """Tighten every entry that matters in topological order; once ``work_budget`` (simplex
    iterations x LP rows: a deterministic measure, so the same model always gets the same
    bounds) is spent, the remaining entries keep their symbolic bounds."""
    keep = objective_nodes(graph)
    lp = IncrementalLP(graph, keep)
    lp.work_budget = work_budget

    def tighten(name, idx, order):
        # lower everything before ``name`` that is not lowered yet, then ``name`` itself
        for n in order[:order.index(name) + 1]:
            if n in keep and n not in lp.b.values:
                lp.lower(n)
        ent, lo, hi = _tighten_entries(lp, graph, name, idx, lp.lp_lower)
        full_lo, full_hi = graph.bounds[name].lo.copy(), graph.bounds[name].hi.copy()
        full_lo[ent], full_hi[ent] = lo, hi
        return full_lo[idx], full_hi[idx]

    tighten_walk(graph, tighten, source, keep)
    for n in graph.topo():                     # the rest, so the model is complete
        if n in keep and n not in lp.b.values:
            lp.lower(n)
    return lp


def infer_lp(graph: IRGraph) -> None:
    """Symbolic bounds, then LP tightening of every entry that matters (forward and backward)."""
    _highs()
    infer_symbolic(graph)
    _lp_walk(graph)


def _priority(graph: IRGraph, keep: set[str]) -> list[str]:
    """Nodes to bound with binaries: norm-stage inputs (gradient signs) first, then the other
    conditional/switch inputs from the output side back."""
    order = [n for n in graph.topo() if n in keep]
    srcs = []
    for n in order:
        op = graph.op(n)
        if isinstance(op, Conditional):
            srcs.append(op.src)
    seen, out = set(), []
    for n in sorted(reversed(srcs), key=lambda n: graph.stage(n) != "backward"):
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


def infer_mip(graph: IRGraph, budget: float = MIP_BUDGET,
              per_entry: float = MIP_ENTRY_LIMIT) -> None:
    """``lp`` bounds, then MIP bounds for the hardest open entries within ``budget`` seconds."""
    _highs()
    infer_symbolic(graph)
    lp = _lp_walk(graph, "lp")
    keep = objective_nodes(graph)
    lp.enable_integers()
    t_end = time.perf_counter() + budget
    changed = False
    for name in _priority(graph, keep):
        idx = entries_that_matter(graph, name, keep, graph.bounds)
        if idx.size == 0:
            continue

        def solve(col, sign):
            left = t_end - time.perf_counter()
            if left <= 0.05:
                return -np.inf
            return lp.mip_lower(col, sign, min(per_entry, left))

        ent, lo, hi = _tighten_entries(lp, graph, name, idx, solve)
        if ent.size:
            b = graph.bounds[name]
            nlo, nhi = b.lo.copy(), b.hi.copy()
            nlo[ent], nhi[ent] = np.maximum(nlo[ent], lo), np.minimum(nhi[ent], hi)
            if np.any(nlo != b.lo) or np.any(nhi != b.hi):
                graph.bounds[name] = Bounds(nlo, nhi, "mip")
                changed = True
        if time.perf_counter() >= t_end:
            break
    if changed:     # propagate the tighter bounds (and decided gates) to every later node
        tighten_walk(graph, lambda n, i, o: (graph.bounds[n].lo[i], graph.bounds[n].hi[i]),
                     "mip", keep)


# ``auto`` runs LP tightening only below this many weight nonzeros (forward + backward): above
# it the per-entry LPs cost more than they save (measured: benchmarks/README.md) ...
AUTO_LP_MAX_NNZ = 60_000
# ... and stops after this much LP work (simplex iterations x rows; ~1e7 per second here): a
# 10-20-30-20-2 net needs ~1.5e7, a 10-90x4-1 net would need 3e9 (500 s) for no binary saved
AUTO_LP_WORK = 1e8


def model_nnz(graph: IRGraph) -> int:
    keep = objective_nodes(graph)
    return sum(sparse_nnz(t.weight) for n in keep for t in getattr(graph.op(n), "terms", ()))


def infer_auto(graph: IRGraph) -> None:
    """The default: symbolic bounds, then LP tightening when HiGHS is installed and the model is
    small enough for per-entry LPs to pay off (``AUTO_LP_MAX_NNZ``), within ``AUTO_LP_WORK``."""
    infer_symbolic(graph)
    try:
        _highs()
    except LipcError:
        return
    if model_nnz(graph) <= AUTO_LP_MAX_NNZ:
        _lp_walk(graph, work_budget=AUTO_LP_WORK)
