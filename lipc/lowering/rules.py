"""Lowering: annotated IR → flat MIP arrays, one rule per node type.

Every IR entry becomes either a MIP column or a known constant (a stable conditional, a switch
with a decided gate, an affine row that reads only constants): the *value table* records, per
node, the column of each entry (or -1) and the constant value.  Rules consult it, so stable
neurons vanish without a special pass and a switch whose gate is fixed to 1 is just an alias of
its input.  Bounds from inference are the big-M constants and the column bounds.

The result keeps the value table (:class:`Lowered`) so a solver's solution maps back to IR
values, which is how the witness is read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import NumericError
from ..core.ir import Affine, Conditional, Const, Input, IRGraph, Switch
from ..core.mip import FlatMIP
from ..core.sparse import columns, entries, nonzero_rows, rows as select_rows

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
class _Builder:
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


# ---------------------------------------------------------------------- rules

def _lower_input(b: _Builder, name: str, op: Input) -> Values:
    bd = b.graph.bounds[name]
    cols = b.new_cols(name, np.arange(op.size), bd.lo, bd.hi, False)
    return Values(cols, np.zeros(op.size))


def _lower_const(b: _Builder, name: str, op: Const) -> Values:
    return Values(np.full(op.size, -1, np.int64), op.value.astype(np.float64))


def _lower_affine(b: _Builder, name: str, op: Affine) -> Values:
    """y = sum W x + b: constant parts move to the right-hand side; rows reading no column are
    constants themselves; every other entry gets a column and one equality row."""
    n = op.size
    const = op.bias.astype(np.float64).copy()
    blocks = []                                     # (W restricted to variable inputs, their cols)
    for t in op.terms:
        v = b.values[t.src]
        m = v.var
        if t.is_diag:
            const += np.where(m, 0.0, t.weight * v.vals)
            blocks.append(("diag", np.flatnonzero(m), t.weight[m], v.cols[m]))
        else:
            if (~m).any():
                const += columns(t.weight, ~m) @ v.vals[~m]
            if m.any():
                blocks.append(("dense", None, columns(t.weight, m), v.cols[m]))
    is_var = np.zeros(n, bool)
    for kind, rows, W, _ in blocks:
        if kind == "diag":
            is_var[rows[W != 0]] = True
        else:
            is_var |= nonzero_rows(W)
    cols = np.full(n, -1, np.int64)
    var_rows = np.flatnonzero(is_var)
    bd = b.graph.bounds[name]
    cols[var_rows] = b.new_cols(name, var_rows, bd.lo[var_rows], bd.hi[var_rows], False)
    if var_rows.size:
        _affine_rows(b, name, var_rows, cols[var_rows], blocks, const[var_rows])
    return Values(cols, np.where(is_var, 0.0, const))


def _affine_rows(b: _Builder, name, var_rows, y_cols, blocks, rhs) -> None:
    """Rows  y_i - sum_j W_ij x_j = const_i  for the variable entries, built as one CSR chunk."""
    k = len(var_rows)
    pos = np.full(int(var_rows.max()) + 1, -1)
    pos[var_rows] = np.arange(k)
    r_parts, c_parts, v_parts = [np.arange(k)], [y_cols], [np.ones(k)]
    for kind, at, W, xcols in blocks:
        if kind == "diag":
            nz = W != 0
            r_parts.append(pos[at[nz]])
            c_parts.append(xcols[nz])
            v_parts.append(-W[nz])
        else:
            rr, cc, vv = entries(select_rows(W, var_rows))
            r_parts.append(rr)
            c_parts.append(xcols[cc])
            v_parts.append(-vv)
    r, c, v = np.concatenate(r_parts), np.concatenate(c_parts), np.concatenate(v_parts)
    if len(blocks) > 1:
        r, c, v = _merge_duplicates(r, c, v)
    order = np.argsort(r, kind="stable")
    counts = np.bincount(r, minlength=k)
    b.add_ragged_rows([f"{name}_eq_{i}" for i in var_rows], counts, c[order], v[order], rhs, rhs)


def _merge_duplicates(r: np.ndarray, c: np.ndarray, v: np.ndarray):
    """Sum entries that hit the same (row, column): two terms of one affine node can read the
    same column when a switch aliases its input (|g| = 2 relu(g) - g with a decided sign).
    Back ends disagree on duplicates (some sum, some keep one), so the flat MIP never has any."""
    order = np.lexsort((c, r))
    r, c, v = r[order], c[order], v[order]
    start = np.concatenate(([True], (r[1:] != r[:-1]) | (c[1:] != c[:-1])))
    sums = np.add.reduceat(v, np.flatnonzero(start)) if v.size else v
    r, c = r[start], c[start]
    keep = sums != 0
    return r[keep], c[keep], sums[keep]


def _relu_fused(b: _Builder, cond: str) -> bool:
    """True when a lowered switch(z, cond) with z the conditional's own input exists: the four
    ReLU rows of that switch already imply the conditional's rows."""
    graph = b.graph
    z = graph.op(cond).src
    return any(s in b.keep and isinstance(graph.op(s), Switch) and graph.op(s).src == z
               for s in graph.g.successors(cond))


def _lower_conditional(b: _Builder, name: str, op: Conditional) -> Values:
    bd = b.graph.bounds[name]
    z = b.values[op.src]
    zb = b.graph.bounds[op.src]
    vals = bd.lo.copy()
    open_ = bd.lo != bd.hi
    const_z = open_ & ~z.var                 # z known exactly: its sign decides the gate
    vals[const_z] = (z.vals[const_z] >= 0).astype(float)
    open_ &= z.var
    idx = np.flatnonzero(open_)
    cols = np.full(op.size, -1, np.int64)
    cols[idx] = b.new_cols(name, idx, 0.0, 1.0, True)
    if idx.size and not _relu_fused(b, name):
        l, u = zb.lo[idx], zb.hi[idx]
        b.note_big_m(l, u)
        zc, ac = z.cols[idx], cols[idx]
        # z <= u a   and   z >= l (1 - a)
        b.add_rows([f"{name}_up_{i}" for i in idx], np.stack([zc, ac], 1),
                   np.stack([np.ones_like(u), -u], 1), np.full(idx.size, -np.inf), np.zeros(idx.size))
        b.add_rows([f"{name}_lo_{i}" for i in idx], np.stack([zc, ac], 1),
                   np.stack([np.ones_like(l), l], 1), l, np.full(idx.size, np.inf))
    return Values(cols, np.where(open_, 0.0, vals))


def _lower_switch(b: _Builder, name: str, op: Switch) -> Values:
    x, a = b.values[op.src], b.values[op.gate]
    xb, yb = b.graph.bounds[op.src], b.graph.bounds[name]
    cols = np.where(a.var, -1, np.where(a.vals == 1.0, x.cols, -1)).astype(np.int64)
    vals = np.where(a.var, 0.0, np.where(a.vals == 1.0, x.vals, 0.0))
    idx = np.flatnonzero(a.var)
    if idx.size == 0:
        return Values(cols, vals)
    cols[idx] = b.new_cols(name, idx, yb.lo[idx], yb.hi[idx], False)
    y, g = cols[idx], a.cols[idx]
    inf = np.full(idx.size, np.inf)
    xc = x.cols[idx]
    fixed_x = xc < 0
    if fixed_x.any():                           # y = v * a for a known input value v
        j = idx[fixed_x]
        b.add_rows([f"{name}_fx_{i}" for i in j], np.stack([y[fixed_x], g[fixed_x]], 1),
                   np.stack([np.ones(j.size), -x.vals[j]], 1), np.zeros(j.size), np.zeros(j.size))
    m = ~fixed_x
    j, y, g, xc, inf = idx[m], y[m], g[m], xc[m], inf[m]
    ones = np.ones(j.size)
    cy_x_a = np.stack([y, xc, g], 1)
    if getattr(b.graph.op(op.gate), "src", None) == op.src:
        l, u = xb.lo[j], xb.hi[j]                  # ReLU: y >= 0 (bound), y >= x,
        b.note_big_m(l, u)                         # y <= u a, y <= x - l (1 - a)
        b.add_rows([f"{name}_gex_{i}" for i in j], np.stack([y, xc], 1),
                   np.stack([ones, -ones], 1), np.zeros(j.size), inf)
        b.add_rows([f"{name}_ua_{i}" for i in j], np.stack([y, g], 1),
                   np.stack([ones, -u], 1), -inf, np.zeros(j.size))
        b.add_rows([f"{name}_la_{i}" for i in j], cy_x_a,
                   np.stack([ones, -ones, -l], 1), -inf, -l)
    else:                                          # McCormick envelope of x * a, a in {0, 1}
        # on the box [l, u] of x itself (exact for binary a whatever the sign of l and u); the
        # paper widens it to [min(l, 0), max(u, 0)], which loosens the LP relaxation when the
        # sign of x is known
        mccormick_rows(b, name, j, y, xc, g, xb.lo[j], xb.hi[j])
    return Values(cols, vals)


def mccormick_rows(b: _Builder, name: str, j, y, xc, g, l, u) -> None:
    """y = x * a for binary a and x in [l, u], exactly (its McCormick envelope):
    y <= x - l (1 - a), y >= x - u (1 - a), y >= l a, y <= u a."""
    b.note_big_m(l, u)
    ones, inf, zero = np.ones(j.size), np.full(j.size, np.inf), np.zeros(j.size)
    cy_x_a = np.stack([y, xc, g], 1)
    b.add_rows([f"{name}_m1_{i}" for i in j], cy_x_a, np.stack([ones, -ones, -l], 1), -inf, -l)
    b.add_rows([f"{name}_m2_{i}" for i in j], cy_x_a, np.stack([ones, -ones, -u], 1), -u, inf)
    b.add_rows([f"{name}_m3_{i}" for i in j], np.stack([y, g], 1), np.stack([ones, -l], 1),
               zero, inf)
    b.add_rows([f"{name}_m4_{i}" for i in j], np.stack([y, g], 1), np.stack([ones, -u], 1),
               -inf, zero)


LOWERING_RULES: dict[type, Callable[[_Builder, str, object], Values]] = {
    Input: _lower_input,
    Const: _lower_const,
    Affine: _lower_affine,
    Conditional: _lower_conditional,
    Switch: _lower_switch,
}


def _constraint_rows(b: _Builder, name: str, c) -> None:
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


# formulation name -> lowering rules; "lipc" is the default exact formulation
FORMULATIONS: dict[str, dict[type, Callable[[_Builder, str, object], Values]]] = {
    "lipc": LOWERING_RULES,
}


@dataclass
class Lowered:
    """The flat MIP plus the value table mapping IR entries to columns or constants."""

    mip: FlatMIP
    values: dict[str, Values]

    def value_of(self, node: str, x: np.ndarray) -> np.ndarray:
        v = self.values[node]
        return np.where(v.var, x[np.maximum(v.cols, 0)] if x.size else 0.0, v.vals)


def lower(graph: IRGraph, objective: str, name: str = "lipc", formulation: str = "lipc") -> Lowered:
    """Lower the nodes the objective depends on (dead nodes are never materialised)."""
    keep = graph.needed(objective, *[n for c in graph.constraints for n in c.nodes])
    b = _Builder(graph, keep)
    rules = FORMULATIONS[formulation]
    for node in graph.topo():
        if node in keep:
            op = graph.op(node)
            b.values[node] = rules[type(op)](b, node, op)
    for k, c in enumerate(graph.constraints):
        _constraint_rows(b, f"set{k}", c)
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
    if b.max_big_m >= MAX_BIG_M:
        raise NumericError(f"a big-M constant of {b.max_big_m:.3g} is beyond what MIP solvers "
                           f"accept ({MAX_BIG_M:g}): the domain or the weights are too large")
    mip.meta.update(binaries=int(mip.integer.sum()), dropped_tiny_coefficients=b.dropped_tiny,
                    max_big_m=b.max_big_m,
                    min_big_m=b.min_big_m if b.min_big_m <= b.max_big_m else 0.0)
    return Lowered(mip, b.values)


# the original LipMIP model, built from these rules (imported last: it reuses them)
from .paper import PAPER_RULES  # noqa: E402

FORMULATIONS["paper"] = PAPER_RULES
