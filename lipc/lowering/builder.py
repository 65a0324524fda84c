"""The lowering builder: collects the flat MIP's columns and rows while rules run.

Every IR entry becomes either a MIP column or a known constant (a stable conditional, a switch
with a decided gate, an affine row that reads only constants): the *value table* records, per
node, the column of each entry (or -1) and the constant value.  Rules consult it, so stable
neurons vanish without a special pass and a switch whose gate is fixed to 1 is just an alias of
its input.  Bounds from inference are the big-M constants and the column bounds.

The result keeps the value table (:class:`Lowered`) so a solver's solution maps back to IR
values, which is how the witness is read.  The rule tables (one per formulation) live in
lipc.lowering.rules and lipc.lowering.paper; ``lower_with`` runs one of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import NumericError
from ..core.ir import IRGraph
from ..core.mip import FlatMIP

TINY = 1e-9   # readers drop |a| <= 1e-9 (HiGHS, SCIP); lipc never writes such a coefficient


@dataclass
class Values:
    """Entry i of a node is column ``cols[i]`` when >= 0, else the constant ``vals[i]``."""

    cols: np.ndarray
    vals: np.ndarray

    @property
    def var(self) -> np.ndarray:
        return self.cols >= 0


@dataclass
class Builder:
    graph: IRGraph
    keep: set[str] = field(default_factory=set)       # the nodes being lowered
    values: dict[str, Values] = field(default_factory=dict)
    col_names: list[str] = field(default_factory=list)
    lb: list[np.ndarray] = field(default_factory=list)
    ub: list[np.ndarray] = field(default_factory=list)
    integer: list[np.ndarray] = field(default_factory=list)
    n_cols: int = 0
    row_names: list[str] = field(default_factory=list)
    row_ptr: list[np.ndarray] = field(default_factory=list)   # per chunk: nnz per row
    row_idx: list[np.ndarray] = field(default_factory=list)
    row_val: list[np.ndarray] = field(default_factory=list)
    row_lo: list[np.ndarray] = field(default_factory=list)
    row_hi: list[np.ndarray] = field(default_factory=list)
    dropped_tiny: int = 0
    max_big_m: float = 0.0
    min_big_m: float = float("inf")      # smallest nonzero |M| (the big-M range, for libraries)
    dual_norm: str | None = None         # the objective's norm of the gradient, "l1" or "linf",
                                         # from the query; None: weighted, or no gradient norm

    def new_cols(self, node: str, entries: np.ndarray, lo, hi, integer: bool) -> np.ndarray:
        """Columns for ``entries`` of ``node`` (named ``<node>_<entry>``); returns their indices."""
        k = len(entries)
        idx = np.arange(self.n_cols, self.n_cols + k, dtype=np.int64)
        self.n_cols += k
        self.col_names.extend(f"{node}_{i}" for i in entries)
        self.lb.append(np.asarray(lo, float) * np.ones(k))
        self.ub.append(np.asarray(hi, float) * np.ones(k))
        self.integer.append(np.full(k, integer))
        return idx

    def add_rows(self, names: list[str], cols: np.ndarray, coefs: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray) -> None:
        """Rows with the same number of terms each: ``cols``/``coefs`` of shape (rows, terms).

        Zero coefficients are dropped, so callers can pass padded dense blocks.
        """
        keep = coefs != 0
        self.add_ragged_rows(names, keep.sum(axis=1), cols[keep], coefs[keep], lo, hi)

    def add_ragged_rows(self, names, counts, cols, coefs, lo, hi) -> None:
        small = (np.abs(coefs) < TINY)
        if np.any(small):
            # a coefficient readers would silently drop: remove it and account for its worst
            # effect on the row by widening the row's sides (sound, never tighter)
            magnitude = np.abs(coefs[small])
            self.dropped_tiny += int(small.sum())
            row_of = np.repeat(np.arange(len(names)), counts)
            slack = np.zeros(len(names))
            bound = np.maximum(np.abs(self._col_lb()[cols[small]]),
                               np.abs(self._col_ub()[cols[small]]))
            np.add.at(slack, row_of[small], magnitude * bound)
            lo, hi = lo - slack, hi + slack
            counts = np.bincount(row_of[~small], minlength=len(names))
            cols, coefs = cols[~small], coefs[~small]
        self.row_names.extend(names)
        self.row_ptr.append(np.asarray(counts, np.int64))
        self.row_idx.append(np.asarray(cols, np.int64))
        self.row_val.append(np.asarray(coefs, np.float64))
        self.row_lo.append(np.asarray(lo, np.float64) * np.ones(len(names)))
        self.row_hi.append(np.asarray(hi, np.float64) * np.ones(len(names)))

    def _col_lb(self) -> np.ndarray:
        return np.concatenate(self.lb) if self.lb else np.zeros(0)

    def _col_ub(self) -> np.ndarray:
        return np.concatenate(self.ub) if self.ub else np.zeros(0)

    def note_big_m(self, *arrays: np.ndarray) -> None:
        for a in arrays:
            nz = np.abs(a[a != 0])
            if nz.size:
                self.max_big_m = max(self.max_big_m, float(nz.max()))
                self.min_big_m = min(self.min_big_m, float(nz.min()))


# HiGHS refuses matrix values >= 1e15 and CBC/SCIP lose all precision long before: a big-M this
# large comes from an absurd domain (box:0:1e300) and gets a clear error, not a solver failure
MAX_BIG_M = 1e15




def constraint_rows(b: Builder, name: str, c) -> None:
    """lo <= sum_k A_k node_k <= hi, with constant entries moved to the sides."""
    k = c.lo.size
    shift = np.zeros(k)
    blocks = []
    for node, A in c.terms:
        v = b.values[node]
        shift += A[:, ~v.var] @ v.vals[~v.var]
        blocks.append((A[:, v.var], v.cols[v.var]))
    A = np.hstack([blk for blk, _ in blocks])
    cols = np.concatenate([cc for _, cc in blocks])
    b.add_rows([f"{name}_{i}" for i in range(k)], np.broadcast_to(cols, A.shape), A,
               c.lo - shift, c.hi - shift)



@dataclass
class Lowered:
    """The flat MIP plus the value table mapping IR entries to columns or constants."""

    mip: FlatMIP
    values: dict[str, Values]

    def value_of(self, node: str, x: np.ndarray) -> np.ndarray:
        v = self.values[node]
        return np.where(v.var, x[np.maximum(v.cols, 0)] if x.size else 0.0, v.vals)


def lower_with(rules: dict, graph: IRGraph, objective: str, name: str = "lipc",
               dual_norm: str | None = None) -> Lowered:
    """Lower the nodes the objective depends on (dead nodes are never materialised)."""
    keep = graph.needed(objective, *[n for c in graph.constraints for n in c.nodes])
    b = Builder(graph, keep, dual_norm=dual_norm)
    for node in graph.topo():
        if node in keep:
            op = graph.op(node)
            b.values[node] = rules[type(op)](b, node, op)
    for k, c in enumerate(graph.constraints):
        constraint_rows(b, f"set{k}", c)
    obj_v = b.values[objective]
    obj = np.zeros(b.n_cols)
    obj_const = 0.0
    if obj_v.var[0]:
        obj[obj_v.cols[0]] = 1.0
    else:
        obj_const = float(obj_v.vals[0])
    counts = np.concatenate(b.row_ptr) if b.row_ptr else np.zeros(0, np.int64)
    mip = FlatMIP(
        col_names=b.col_names,
        lb=np.concatenate(b.lb) if b.lb else np.zeros(0),
        ub=np.concatenate(b.ub) if b.ub else np.zeros(0),
        integer=np.concatenate(b.integer) if b.integer else np.zeros(0, bool),
        obj=obj,
        row_names=b.row_names,
        indptr=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        indices=np.concatenate(b.row_idx) if b.row_idx else np.zeros(0, np.int64),
        data=np.concatenate(b.row_val) if b.row_val else np.zeros(0),
        row_lo=np.concatenate(b.row_lo) if b.row_lo else np.zeros(0),
        row_hi=np.concatenate(b.row_hi) if b.row_hi else np.zeros(0),
        obj_const=obj_const,
        name=name,
    )
    if np.any(~np.isfinite(mip.data)) or np.any(np.isnan(mip.lb)) or np.any(np.isnan(mip.ub)):
        raise NumericError("lowering produced a non-finite coefficient or bound")
    check_range(mip)
    if b.max_big_m >= MAX_BIG_M:
        raise NumericError(f"a big-M constant of {b.max_big_m:.3g} is beyond what MIP solvers "
                           f"accept ({MAX_BIG_M:g}): the domain or the weights are too large")
    mip.meta.update(binaries=int(mip.integer.sum()), dropped_tiny_coefficients=b.dropped_tiny,
                    max_big_m=b.max_big_m,
                    min_big_m=b.min_big_m if b.min_big_m <= b.max_big_m else 0.0)
    return Lowered(mip, b.values)


def check_range(mip: FlatMIP) -> None:
    """Refuse a finite number at or beyond MAX_BIG_M anywhere in the model (a polytope row of
    1e300 made CBC abort the whole process, exit 134): no back end ever sees one."""
    for what, arr in (("matrix coefficient", mip.data), ("objective coefficient", mip.obj),
                      ("row bound", mip.row_lo), ("row bound", mip.row_hi),
                      ("variable bound", mip.lb), ("variable bound", mip.ub)):
        a = np.abs(arr[np.isfinite(arr)])
        if a.size and a.max() >= MAX_BIG_M:
            raise NumericError(f"a {what} of {a.max():.3g} is beyond what MIP solvers accept "
                               f"({MAX_BIG_M:g}): the domain, the weights or the output "
                               "selection are too large; rescale them")
