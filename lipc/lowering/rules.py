"""lipc's exact formulation: one lowering rule per IR node type (``LOWERING_RULES``).

A rule takes the :class:`~lipc.lowering.builder.Builder`, the node's name and its op, adds the
node's columns and rows, and returns its :class:`~lipc.lowering.builder.Values`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..core.ir import Affine, Conditional, Const, Input, Switch
from ..core.sparse import columns, entries, nonzero_rows, rows as select_rows
from .builder import Builder, Values

# ---------------------------------------------------------------------- rules

def _lower_input(b: Builder, name: str, op: Input) -> Values:
    bd = b.graph.bounds[name]
    cols = b.new_cols(name, np.arange(op.size), bd.lo, bd.hi, False)
    return Values(cols, np.zeros(op.size))


def _lower_const(b: Builder, name: str, op: Const) -> Values:
    return Values(np.full(op.size, -1, np.int64), op.value.astype(np.float64))


def lower_affine(b: Builder, name: str, op: Affine) -> Values:
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


def _affine_rows(b: Builder, name, var_rows, y_cols, blocks, rhs) -> None:
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


def _relu_fused(b: Builder, cond: str) -> bool:
    """True when a lowered switch(z, cond) with z the conditional's own input exists: the four
    ReLU rows of that switch already imply the conditional's rows."""
    graph = b.graph
    z = graph.op(cond).src
    return any(s in b.keep and isinstance(graph.op(s), Switch) and graph.op(s).src == z
               for s in graph.g.successors(cond))


def lower_conditional(b: Builder, name: str, op: Conditional) -> Values:
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


def _lower_switch(b: Builder, name: str, op: Switch) -> Values:
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


def mccormick_rows(b: Builder, name: str, j, y, xc, g, l, u) -> None:
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


LOWERING_RULES: dict[type, Callable[[Builder, str, object], Values]] = {
    Input: _lower_input,
    Const: _lower_const,
    Affine: lower_affine,
    Conditional: lower_conditional,
    Switch: _lower_switch,
}

