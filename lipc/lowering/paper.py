"""``--formulation paper``: the original LipMIP model (Jordan & Dimakis 2020, revbucket/lipMIP
``lipMIP.py``), rebuilt from the same IR so that benchmarks compare formulations on one solver.

Kept from the original (see shared notes, lipmip-formulation.md §1):

* a column for every pre-activation, post-activation, backward quantity, gradient coordinate,
  |g_i| and the objective; stable-off neurons get columns fixed at 0 and stable-on ones an
  equality row (lipc folds both away);
* pre-activations z are *free* columns (their interval box is used only as big-M);
  post-activations h get the column bounds [l, u] (negative lower bound) plus the row h >= 0;
* the 4-row big-M ReLU, the binary shared with the backward switch, no separate conditional rows;
* the backward switch: McCormick on the widened box [min(l, 0), max(u, 0)]; the backward
  quantities carry their interval boxes as column bounds, the first one (W_L^T c) is free;
* |g_i|: one binary per sign-uncertain coordinate, t >= g, t >= -g, t <= g - 2l(1-s),
  t <= -g + 2u s, t in [0, max(|l|, u)], t = +-g where the sign is known;
* the l1 objective: a column equal to sum t_i; the l_inf objective: M >= t_i, M <= t_i +
  (1 - z_i)(U_bar_i - lambda_i), sum z_i = 1, one binary per relevant coordinate, lambda_i =
  max(l_i, 0) (ignoring certainly-negative coordinates, which only loosens the big-M);
* interval bounds (``--bounds auto`` resolves to ``interval`` for this formulation); no IR passes.

Not kept, because they make the answer wrong (§10): the tolerance tau = 1e-6 added to every
|g_i| row (it inflates the optimum by up to d * 1e-6), the index-versus-value filter of the
relevant coordinates in the l_inf objective (it can drop the maximising coordinate), and float32
bounds without outward rounding (lipc's interval bounds are float64 and outward-rounded).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import QueryError
from ..core.ir import Affine, Conditional, Const, Input, IRGraph, Switch
from .builder import Builder, Values
from .rules import LOWERING_RULES, lower_affine, lower_conditional, mccormick_rows

_INF = np.inf


def _placeholder(size: int) -> Values:
    """A norm-stage node the paper's objective gadget replaces: not materialised."""
    return Values(np.full(size, -1, np.int64), np.full(size, np.nan))


def _is_norm(b: Builder, name: str) -> bool:
    return b.graph.stage(name) == "norm"


def _forward_preactivation(graph: IRGraph, name: str) -> bool:
    return graph.stage(name) == "forward" and any(
        isinstance(graph.op(c), Conditional) for c in graph.g.successors(name))


def _equal_rows(b: Builder, name: str, y: np.ndarray, v: Values, entries: np.ndarray) -> None:
    """Rows y_k = v_i for i = entries[k] (a column of another node, or a constant)."""
    if entries.size == 0:
        return
    xc = v.cols[entries]
    var = xc >= 0
    if var.any():
        e = entries[var]
        b.add_rows([f"{name}_eq_{i}" for i in e], np.stack([y[var], xc[var]], 1),
                   np.stack([np.ones(e.size), -np.ones(e.size)], 1), np.zeros(e.size),
                   np.zeros(e.size))
    if (~var).any():
        e = entries[~var]
        b.add_rows([f"{name}_eq_{i}" for i in e], y[~var][:, None], np.ones((e.size, 1)),
                   v.vals[e], v.vals[e])


def _paper_affine(b: Builder, name: str, op: Affine) -> Values:
    graph = b.graph
    if graph.roles.get(name) == "objective":
        return _objective(b, name)
    if _is_norm(b, name):
        return _placeholder(op.size)
    n_chunks = len(b.lb)
    v = lower_affine(b, name, op)
    if _forward_preactivation(graph, name) and len(b.lb) > n_chunks:
        b.lb[-1] = np.full(b.lb[-1].size, -_INF)       # z is a free column in the original
        b.ub[-1] = np.full(b.ub[-1].size, _INF)
    const = np.flatnonzero(~v.var)
    if graph.stage(name) == "backward" and const.size:
        # the original has a (free) column for every backward quantity, e.g. q = W_L^T c
        cols = b.new_cols(name, const, -_INF, _INF, False)
        _equal_rows(b, name, cols, v, const)
        v = Values(v.cols.copy(), v.vals.copy())
        v.cols[const] = cols
        v.vals[const] = 0.0
    return v


def _paper_conditional(b: Builder, name: str, op: Conditional) -> Values:
    if _is_norm(b, name):
        return _placeholder(op.size)
    return lower_conditional(b, name, op)


def _paper_switch(b: Builder, name: str, op: Switch) -> Values:
    if _is_norm(b, name):
        return _placeholder(op.size)
    graph = b.graph
    x, a = b.values[op.src], b.values[op.gate]
    xb = graph.bounds[op.src]
    relu = getattr(graph.op(op.gate), "src", None) == op.src
    n = op.size
    on = ~a.var & (a.vals == 1.0)
    off = ~a.var & ~on
    opn = a.var
    lo = np.where(off, 0.0, np.where(relu | on, xb.lo, np.minimum(xb.lo, 0.0)))
    hi = np.where(off, 0.0, np.where(relu | on, xb.hi, np.maximum(xb.hi, 0.0)))
    cols = b.new_cols(name, np.arange(n), lo, hi, False)
    _equal_rows(b, name, cols[on], x, np.flatnonzero(on))
    j = np.flatnonzero(opn)
    if j.size == 0:
        return Values(cols, np.zeros(n))
    y, g, xc = cols[j], a.cols[j], x.cols[j]
    fixed_x = xc < 0
    if fixed_x.any():                                  # y = v a for a known input value v
        k = j[fixed_x]
        b.add_rows([f"{name}_fx_{i}" for i in k], np.stack([y[fixed_x], g[fixed_x]], 1),
                   np.stack([np.ones(k.size), -x.vals[k]], 1), np.zeros(k.size),
                   np.zeros(k.size))
    m = ~fixed_x
    j, y, g, xc = j[m], y[m], g[m], xc[m]
    ones, inf = np.ones(j.size), np.full(j.size, np.inf)
    cy_x_a = np.stack([y, xc, g], 1)
    if relu:
        l, u = xb.lo[j], xb.hi[j]
        b.note_big_m(l, u)
        b.add_rows([f"{name}_ge0_{i}" for i in j], y[:, None], ones[:, None], np.zeros(j.size),
                   inf)
        b.add_rows([f"{name}_gex_{i}" for i in j], np.stack([y, xc], 1),
                   np.stack([ones, -ones], 1), np.zeros(j.size), inf)
        b.add_rows([f"{name}_ua_{i}" for i in j], np.stack([y, g], 1),
                   np.stack([ones, -u], 1), -inf, np.zeros(j.size))
        b.add_rows([f"{name}_la_{i}" for i in j], cy_x_a, np.stack([ones, -ones, -l], 1),
                   -inf, -l)
    else:
        # the paper's box for the envelope is widened to contain 0
        mccormick_rows(b, name, j, y, xc, g, np.minimum(xb.lo[j], 0.0), np.maximum(xb.hi[j], 0.0))
    return Values(cols, np.zeros(n))


# ---------------------------------------------------------------------- the objective gadget

def _norm_structure(b: Builder, objective: str) -> tuple[str, str]:
    """(gradient node, dual norm 'l1' | 'linf') under the objective: the norm comes from the
    query (``Builder.dual_norm``); the graph must hold the norm of exactly one gradient vector."""
    graph = b.graph
    norm_nodes = [n for n in graph.topo() if graph.stage(n) == "norm"
                  and n in graph.needed(objective)]
    outside = {s for n in norm_nodes for s in graph.op(n).sources()
               if graph.stage(s) != "norm"}
    outside = {s for s in outside if not isinstance(graph.op(s), Const)}
    if len(outside) != 1:
        raise QueryError("--formulation paper encodes only the l1 and l_inf norms of one "
                         "gradient vector (the original LipMIP objectives)")
    if b.dual_norm not in ("l1", "linf"):
        raise QueryError("--formulation paper encodes only the l1 and l_inf norms of the gradient "
                         "(the original LipMIP objectives)")
    return outside.pop(), b.dual_norm


def _objective(b: Builder, name: str) -> Values:
    graph = b.graph
    g, kind = _norm_structure(b, name)
    gv, gb = b.values[g], graph.bounds[g]
    d = graph.size(g)
    l, u = gb.lo, gb.hi
    U = np.maximum(np.abs(l), u)
    t = b.new_cols(f"{name}_abs", np.arange(d), 0.0, U, False)
    pos = l >= 0
    neg = (u <= 0) & ~pos
    unc = ~pos & ~neg
    var = gv.var
    # sign known: t = g or t = -g
    for mask, sgn, tag in ((pos, 1.0, "p"), (neg, -1.0, "n")):
        e = np.flatnonzero(mask & var)
        if e.size:
            b.add_rows([f"{name}_abs{tag}_{i}" for i in e], np.stack([t[e], gv.cols[e]], 1),
                       np.stack([np.ones(e.size), -sgn * np.ones(e.size)], 1),
                       np.zeros(e.size), np.zeros(e.size))
        e = np.flatnonzero(mask & ~var)
        if e.size:
            b.add_rows([f"{name}_absc_{i}" for i in e], t[e][:, None], np.ones((e.size, 1)),
                       np.abs(gv.vals[e]), np.abs(gv.vals[e]))
    e = np.flatnonzero(unc & ~var)                      # constant g: |g| is a constant
    if e.size:
        b.add_rows([f"{name}_absc_{i}" for i in e], t[e][:, None], np.ones((e.size, 1)),
                   np.abs(gv.vals[e]), np.abs(gv.vals[e]))
    e = np.flatnonzero(unc & var)
    if e.size:
        s = b.new_cols(f"{name}_sign", e, 0.0, 1.0, True)
        tc, gc, le, ue = t[e], gv.cols[e], l[e], u[e]
        one, inf = np.ones(e.size), np.full(e.size, np.inf)
        b.note_big_m(2 * le, 2 * ue)
        b.add_rows([f"{name}_t1_{i}" for i in e], np.stack([tc, gc], 1),
                   np.stack([one, -one], 1), np.zeros(e.size), inf)          # t >= g
        b.add_rows([f"{name}_t2_{i}" for i in e], np.stack([tc, gc], 1),
                   np.stack([one, one], 1), np.zeros(e.size), inf)           # t >= -g
        b.add_rows([f"{name}_t3_{i}" for i in e], np.stack([tc, gc, s], 1),  # t <= g - 2l(1-s)
                   np.stack([one, -one, -2 * le], 1), -inf, -2 * le)
        b.add_rows([f"{name}_t4_{i}" for i in e], np.stack([tc, gc, s], 1),  # t <= -g + 2u s
                   np.stack([one, one, -2 * ue], 1), -inf, np.zeros(e.size))
    if kind == "l1":
        obj = b.new_cols(name, np.array([0]), 0.0, np.inf, False)
        b.add_rows([f"{name}_sum"], np.concatenate([obj, t])[None, :],
                   np.concatenate([[1.0], -np.ones(d)])[None, :], np.zeros(1), np.zeros(1))
        return Values(obj, np.zeros(1))
    lam = np.maximum(l, 0.0)
    lam_max = float(lam.max())
    rel = np.flatnonzero(U >= lam_max)          # fixed: compare values, not indices (§10.1)
    M = b.new_cols(name, np.array([0]), lam_max, float(U.max()), False)
    order = np.sort(U)[::-1]
    top = order[0]
    second = order[1] if d > 1 else 0.0
    Ubar = np.where(U == top, second, top)
    if np.sum(U == top) > 1:
        Ubar = np.full(d, top)
    z = b.new_cols(f"{name}_argmax", rel, 0.0, 1.0, True)
    one = np.ones(rel.size)
    b.add_rows([f"{name}_ge_{i}" for i in rel], np.stack([np.full(rel.size, M[0]), t[rel]], 1),
               np.stack([one, -one], 1), np.zeros(rel.size), np.full(rel.size, np.inf))
    big = Ubar[rel] - lam[rel]
    b.note_big_m(big)
    b.add_rows([f"{name}_le_{i}" for i in rel],
               np.stack([np.full(rel.size, M[0]), t[rel], z], 1),
               np.stack([one, -one, big], 1), np.full(rel.size, -np.inf), big)
    b.add_rows([f"{name}_one"], z[None, :], one[None, :], np.ones(1), np.ones(1))
    return Values(M, np.zeros(1))


PAPER_RULES: dict[type, Callable[[Builder, str, object], Values]] = {
    Input: LOWERING_RULES[Input],
    Const: LOWERING_RULES[Const],
    Affine: _paper_affine,
    Conditional: _paper_conditional,
    Switch: _paper_switch,
}
