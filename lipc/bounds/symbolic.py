"""Symbolic (CROWN/DeepPoly-style) bound inference: linear back-substitution over the whole IR.

One walk in topological order, like :mod:`lipc.bounds`: every node first gets its interval
bounds (from its sources' current bounds); nodes whose bounds decide something in the MIP — the
input of a conditional (stability, big-M) and the input of a switch whose gate is open
(McCormick constants) — are then tightened by back-substituting a linear bound of each open entry
through the graph down to the leaves and concretising it over their boxes.  The result is the
intersection of both, so it is never looser than interval arithmetic.

Linear relaxations, one per node kind (``BACKSUB_RULES``):

* ``Affine``: exact;
* ``Switch`` whose gate reads the switch's own input (ReLU): the triangle's upper chord and the
  lower line alpha*x, alpha = 1 where u >= -l else 0 (CROWN's adaptive choice);
* ``Switch`` x*a with a gate over another value (the backward pass, |g|): the McCormick planes of
  the product on [l, u] x [0, 1], one per side, chosen by whether the gate is likely on;
* ``Conditional`` a = [z > 0] on l < 0 < u: a >= z/u and a <= 1 - z/l (exactly the LP relaxation
  of the big-M rows), used where the gate is likely on resp. off, else the constants 0 and 1.

This couples gradient coordinates to the forward pre-activations through the shared gates, which
interval arithmetic cannot (it treats every gate independently).

Floating point: every back-substitution step adds a rigorous bound of its own rounding error
(gamma_n times the magnitude of the terms it sums, magnitudes taken from the sound bounds of the
nodes involved) and every relaxation with rounded coefficients carries its worst violation, so
the concretised bounds are sound in float64 like the interval ones.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .interval import INTERVAL_RULES, gamma
from ..core.ir import Affine, Bounds, Conditional, Const, Input, IRGraph, Switch
from ..core.sparse import CSR, absolute
from ..errors import TimeLimitError
from ..util.deadline import check, expired, note

_EPS = np.finfo(np.float64).eps


def _lam_times(lam: np.ndarray, W) -> np.ndarray:
    """lam @ W for a dense or CSR weight.  Multiplier matrices are kept in Fortran order: then
    lam.T is C-ordered and the sparse kernel (W^T @ lam^T) runs without copying lam."""
    if isinstance(W, CSR):
        return (W.T @ np.asfortranarray(lam).T).T
    return np.asfortranarray(lam @ W)


def _mag(b: Bounds) -> np.ndarray:
    return np.maximum(np.abs(b.lo), np.abs(b.hi))


def _likely_on(z: Bounds) -> np.ndarray:
    return z.hi >= -z.lo


class _State:
    """Back-substitution of the rows ``Lam[target] = [E; -E]`` (lower bounds of the selected
    entries and of their negations) towards the leaves."""

    def __init__(self, graph: IRGraph, bounds: dict[str, Bounds], n_rows: int):
        self.graph, self.bounds = graph, bounds
        self.lam: dict[str, np.ndarray] = {}
        self.absacc: dict[str, np.ndarray] = {}      # sum of |contributions| (rounding of sums)
        self.count: dict[str, int] = {}
        self.const = np.zeros(n_rows)
        self.err = np.zeros(n_rows)

    def add(self, node: str, coef: np.ndarray) -> None:
        if node in self.lam:
            self.lam[node] = self.lam[node] + coef
            self.absacc[node] = self.absacc[node] + np.abs(coef)
            self.count[node] += 1
        else:
            self.lam[node] = coef
            self.absacc[node] = np.abs(coef)
            self.count[node] = 1

    def pop(self, node: str) -> np.ndarray | None:
        lam = self.lam.pop(node, None)
        if lam is None:
            return None
        k = self.count.pop(node)
        acc = self.absacc.pop(node)
        if k > 1:                                    # the sum of k contributions was rounded
            self.err += gamma(k + 1) * (acc @ _mag(self.bounds[node]))
        return lam


def _bs_leaf(s: _State, name: str, op, lam: np.ndarray) -> None:
    """Concretise over the leaf's box (inputs) or its value (constants)."""
    b = s.bounds[name]
    lp, ln = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
    s.const += lp @ b.lo + ln @ b.hi
    s.err += gamma(2 * lam.shape[1] + 2) * (np.abs(lam) @ _mag(b))


def _bs_affine(s: _State, name: str, op: Affine, lam: np.ndarray) -> None:
    s.const += lam @ op.bias
    w = np.abs(op.bias).copy()
    n = 1
    for t in op.terms:
        m = _mag(s.bounds[t.src])
        if t.is_diag:
            s.add(t.src, lam * t.weight)
            w = w + np.abs(t.weight) * m
            n += 1
        else:
            s.add(t.src, _lam_times(lam, t.weight))
            w = w + absolute(t.weight) @ m
            n += t.in_size()
    # products lam @ W (inner dimension <= size of the node) and the bias sum
    s.err += gamma(2 * (n + lam.shape[1]) + 4) * (np.abs(lam) @ w)


def _gate_value(s: _State, gate: str):
    """(fixed mask, fixed value, gate-input bounds or None) of a switch gate."""
    g = s.graph.op(gate)
    gb = s.bounds[gate]
    fixed = gb.lo == gb.hi
    return fixed, gb.lo, g


def _bs_switch(s: _State, name: str, op: Switch, lam: np.ndarray) -> None:
    xb = s.bounds[op.src]
    fixed, aval, gop = _gate_value(s, op.gate)
    l, u = xb.lo, xb.hi
    mx = _mag(xb)
    on_fixed = fixed & (aval == 1.0)
    openm = ~fixed
    relu = getattr(gop, "src", None) == op.src
    lp, ln = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
    cx = np.where(on_fixed, 1.0, 0.0) * lam           # stable-on entries: y = x
    w = np.where(on_fixed, mx, 0.0)
    delta = np.zeros(op.size)
    if relu:
        # unstable ReLU: y <= s (x - l) with s = u/(u-l); y >= alpha x
        span = np.where(openm, u - l, 1.0)
        slope = np.where(openm, u / span, 0.0)
        icpt = np.where(openm, -slope * l, 0.0)
        alpha = np.where(openm & (u >= -l), 1.0, 0.0)
        cx = cx + lp * alpha + ln * slope
        s.const += ln @ icpt
        delta = np.where(openm, 8 * _EPS * (np.abs(l) + np.abs(u)), 0.0)
        w = w + np.where(openm, mx + np.abs(icpt), 0.0)
        s.err += np.abs(ln) @ delta
    elif openm.any():
        # McCormick of y = x a on [l, u] x [0, 1]:
        #   lower: P1 = l a          (exact at a = 0)   P2 = x + u a - u  (exact at a = 1)
        #   upper: Q1 = u a                             Q2 = x + l a - l
        on = openm & _likely_on(s.bounds[gop.src]) if isinstance(gop, Conditional) else openm
        onf = np.where(on, 1.0, 0.0)
        offf = np.where(openm & ~on, 1.0, 0.0)
        cx = cx + lam * onf
        ca = lp * (onf * u + offf * l) + ln * (onf * l + offf * u)
        s.const += lp @ (-onf * u) + ln @ (-onf * l)
        s.add(op.gate, ca)
        w = w + np.where(openm, mx + 2 * np.maximum(np.abs(l), np.abs(u)), 0.0)
    s.add(op.src, cx)
    s.err += gamma(2 * lam.shape[1] + 8) * (np.abs(lam) @ w)


def _bs_conditional(s: _State, name: str, op: Conditional, lam: np.ndarray) -> None:
    b = s.bounds[name]
    zb = s.bounds[op.src]
    fixed = b.lo == b.hi
    s.const += lam[:, fixed] @ b.lo[fixed]
    openm = ~fixed & (zb.lo < 0) & (zb.hi > 0)
    # open gate whose input bounds do not straddle 0 cannot happen for sound bounds; treat as [0,1]
    loose = ~fixed & ~openm
    lp, ln = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
    s.const += ln[:, loose] @ np.ones(int(loose.sum()))
    if openm.any():
        l = np.where(openm, zb.lo, -1.0)
        u = np.where(openm, zb.hi, 1.0)
        on = openm & (u >= -l)
        off = openm & ~on
        ku = np.where(on, 1.0 / u, 0.0)              # a >= z/u     (lower, likely on)
        kl = np.where(off, -1.0 / l, 0.0)            # a <= 1 - z/l (upper, likely off)
        # upper bound where likely on and lower bound where likely off are the constants 1, 0
        cz = lp * ku + ln * kl
        s.const += ln[:, openm] @ np.ones(int(openm.sum()))
        s.add(op.src, cz)
        delta = np.where(openm, 4 * _EPS, 0.0)
        s.err += np.abs(lam) @ delta
        w = np.where(openm, (np.abs(ku) + np.abs(kl)) * _mag(zb) + 1.0, 0.0)
        s.err += gamma(2 * lam.shape[1] + 8) * (np.abs(lam) @ w)


BACKSUB_RULES: dict[type, Callable] = {
    Input: _bs_leaf,
    Const: _bs_leaf,
    Affine: _bs_affine,
    Switch: _bs_switch,
    Conditional: _bs_conditional,
}


def backsubstitute(graph: IRGraph, target: str, entries: np.ndarray,
                   bounds: dict[str, Bounds], order: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sound (lower, upper) bounds of ``target[entries]`` by linear back-substitution.

    ``order`` is a topological order of the graph; only the target's ancestors are visited.
    """
    k = len(entries)
    n = graph.size(target)
    E = np.zeros((k, n))
    E[np.arange(k), entries] = 1.0
    s = _State(graph, bounds, 2 * k)
    s.add(target, np.asfortranarray(np.vstack([E, -E])))
    pos = order.index(target)
    for name in reversed(order[:pos + 1]):
        if not s.lam:                      # every multiplier concretised: nothing left to visit
            break
        check("back-substituting bounds")
        lam = s.pop(name)
        if lam is None:
            continue
        op = graph.op(name)
        BACKSUB_RULES[type(op)](s, name, op, lam)
    total = s.const - s.err - gamma(4) * np.abs(s.const)
    return total[:k], -total[k:]


def entries_that_matter(graph: IRGraph, name: str, keep: set[str],
                        bounds: dict[str, Bounds]) -> np.ndarray:
    """Entries of ``name`` whose bounds are big-M constants or decide a conditional: open
    entries of a conditional reading it, and entries under an open gate of a switch reading it."""
    b = bounds[name]
    mask = np.zeros(graph.size(name), bool)
    for c in graph.g.successors(name):
        if c not in keep:
            continue
        op = graph.op(c)
        if isinstance(op, Conditional) and op.src == name:
            mask |= (b.lo < 0) & (b.hi > 0)
        elif isinstance(op, Switch) and op.src == name:
            gb = bounds.get(op.gate)
            if gb is None:                       # gate not bounded yet: its input's sign decides
                gop = graph.op(op.gate)
                zb = bounds.get(getattr(gop, "src", None)) if isinstance(gop, Conditional) else None
                mask |= True if zb is None else ((zb.lo < 0) & (zb.hi > 0))
            else:
                mask |= gb.lo != gb.hi
    return np.flatnonzero(mask)


def objective_nodes(graph: IRGraph) -> set[str]:
    roots = [n for n, r in graph.roles.items() if r == "objective"]
    if not roots:
        return set(graph.nodes())
    return graph.needed(*roots, *[n for c in graph.constraints for n in c.nodes])


def _intersect(a: Bounds, lo: np.ndarray, hi: np.ndarray, source: str, idx: np.ndarray) -> Bounds:
    nlo, nhi = a.lo.copy(), a.hi.copy()
    nlo[idx] = np.maximum(nlo[idx], lo)
    nhi[idx] = np.minimum(nhi[idx], hi)
    bad = nlo > nhi                      # cannot happen for sound bounds; keep the interval ones
    nlo[bad], nhi[bad] = a.lo[bad], a.hi[bad]
    changed = bool(np.any(nlo != a.lo) or np.any(nhi != a.hi))
    return Bounds(nlo, nhi, source if changed else a.source)


def tighten_walk(graph: IRGraph, tighten: Callable[[str, np.ndarray, list[str]], tuple],
                 source: str, keep: set[str] | None = None) -> None:
    """The shared walk: interval rule per node, then ``tighten(name, entries, order)`` on the
    entries that matter, intersected with the interval bounds.  Past the time limit's deadline
    the tightening stops (the node in progress and the rest keep their sound bounds so far)."""
    order = graph.topo()
    keep = objective_nodes(graph) if keep is None else keep
    tightening = True
    for name in order:
        op = graph.op(name)
        b = INTERVAL_RULES[type(op)](graph, name, op, graph.bounds)
        if not isinstance(op, Input):
            b.source = "interval"
        prev = graph.bounds.get(name)
        if prev is not None and not isinstance(op, Input) and prev.lo.shape == b.lo.shape:
            b = _intersect(b, prev.lo, prev.hi, prev.source, np.arange(op.size))
        graph.bounds[name] = b
        if name not in keep or isinstance(op, (Input, Const, Conditional)):
            continue
        if tightening and expired():
            tightening = False
        idx = entries_that_matter(graph, name, keep, graph.bounds) if tightening else ()
        if len(idx):
            try:
                lo, hi = tighten(name, idx, order)
            except TimeLimitError:
                tightening = False
                continue
            graph.bounds[name] = _intersect(graph.bounds[name], lo, hi, source, idx)
    if not tightening:
        note(f"{source} bound tightening stopped at the time limit (the rest keeps looser "
             "sound bounds, so the MIP has more binaries)")


def _reads_only_leaves(graph: IRGraph, op) -> bool:
    """An affine map of leaves (inputs, constants): back-substitution concretises it over the
    same boxes as interval arithmetic, so it cannot tighten anything (and on a CNN's first
    convolution it would cost a dense (2k x inputs) matrix for nothing)."""
    return isinstance(op, Affine) and all(
        isinstance(graph.op(t.src), (Input, Const)) for t in op.terms)


def infer_symbolic(graph: IRGraph) -> None:
    """Annotate every node with bounds at least as tight as interval arithmetic."""
    def tighten(name, idx, order):
        if _reads_only_leaves(graph, graph.op(name)):
            b = graph.bounds[name]
            return b.lo[idx], b.hi[idx]
        return backsubstitute(graph, name, idx, graph.bounds, order)
    tighten_walk(graph, tighten, "symbolic")
