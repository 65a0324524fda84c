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

from typing import Callable, Union

import numpy as np
import scipy.sparse as sp

from .interval import INTERVAL_RULES, gamma
from ..core.ir import Affine, Bounds, Conditional, Const, Input, IRGraph, Switch
from ..core.sparse import CSR, absolute, rows
from ..errors import TimeLimitError
from ..util.deadline import check, expired, note

_EPS = np.finfo(np.float64).eps


# A multiplier matrix (rows: the bounded linear functions, columns: the entries of one node) is
# dense (Fortran order) or, while few of its entries are nonzero, a scipy CSR array: back from a
# convolution's output, each row reaches a few dozen entries of each layer, and a dense matrix
# would spend its time on zeros (12 s of a CIFAR CNN's input-gradient bounds).
Lam = Union[np.ndarray, sp.csr_array]
DENSE_FROM = 0.05       # a sparse multiplier with more nonzeros than this fraction goes dense
COLUMN_BLOCK = 256      # columns of a dense multiplier per step of |lam| @ w
LIVE_FROM = 0.9         # a product skips a dense multiplier's zero columns below this fraction


def _settle(lam) -> Lam:
    """``lam`` in the representation its density calls for."""
    if sp.issparse(lam):
        lam = sp.csr_array(lam)
        lam.eliminate_zeros()
        if lam.nnz > DENSE_FROM * lam.shape[0] * lam.shape[1]:
            return np.asfortranarray(lam.toarray())
        return lam
    return np.asfortranarray(lam)


def _lam_times(lam: Lam, W) -> Lam:
    """lam @ W for a dense or CSR weight.  Dense multipliers are kept in Fortran order: then
    lam.T is C-ordered, the sparse kernel or BLAS computes (W^T @ lam^T) without copying lam,
    and the transpose of that C-ordered product is again Fortran-ordered (no copy either)."""
    if sp.issparse(lam):
        return _settle(lam @ (W.scipy if isinstance(W, CSR) else W))
    live = np.flatnonzero(lam.any(axis=0))       # zero columns: entries behind dead ReLUs
    if live.size < LIVE_FROM * lam.shape[1]:
        lam, W = lam[:, live], rows(W, live)
    return (W.T @ np.asfortranarray(lam).T).T


def _scaled(lam: Lam, pos: np.ndarray, neg: np.ndarray) -> Lam:
    """Each entry times ``pos[column]`` where it is positive, else ``neg[column]``: the
    sign-dependent choice of a lower linear relaxation.  Columns with pos == neg (stable or exact
    entries, usually most of them) are a plain scaling, so the sign test runs on the others only."""
    if sp.issparse(lam):
        c = lam.indices
        data = lam.data * np.where(lam.data > 0, pos[c], neg[c])
        # copies of the index arrays: _settle drops zeros in place
        return _settle(sp.csr_array((data, c.copy(), lam.indptr.copy()), shape=lam.shape))
    out = np.asfortranarray(lam * pos)
    split = np.flatnonzero(pos != neg)
    if split.size:
        part = lam[:, split]
        out[:, split] = part * np.where(part > 0, pos[split], neg[split])
    return out


def _split_dot(lam: Lam, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """max(lam, 0) @ pos + min(lam, 0) @ neg: concretising a linear function over a box."""
    if sp.issparse(lam):
        return _scaled(lam, pos, neg) @ np.ones(lam.shape[1]) if lam.nnz else np.zeros(lam.shape[0])
    split = np.flatnonzero(pos != neg)
    out = lam @ pos if pos.any() else np.zeros(lam.shape[0])
    if split.size:
        out += np.minimum(lam[:, split], 0.0) @ (neg[split] - pos[split])
    return out


def _absdot(lam: Lam, w: np.ndarray) -> np.ndarray:
    """|lam| @ w, for a dense lam a block of columns at a time: no temporary of lam's size
    (allocating and faulting in those cost more than the arithmetic on a CNN)."""
    if sp.issparse(lam):
        return abs(lam) @ w
    out = np.zeros(lam.shape[0])
    for j in range(0, lam.shape[1], COLUMN_BLOCK):
        out += np.abs(lam[:, j:j + COLUMN_BLOCK]) @ w[j:j + COLUMN_BLOCK]
    return out


def _plus(a: Lam, b: Lam) -> Lam:
    """a + b in the representation the sum's density calls for; a dense operand is the
    accumulator and is updated in place (every multiplier is a fresh array owned by the walk)."""
    if sp.issparse(a) and sp.issparse(b):
        return _settle(a + b)
    acc, other = (a, b) if not sp.issparse(a) else (b, a)
    if sp.issparse(other):
        acc[np.repeat(np.arange(other.shape[0]), np.diff(other.indptr)), other.indices] += other.data
    else:
        acc += other
    return acc


def _mag(b: Bounds) -> np.ndarray:
    return np.maximum(np.abs(b.lo), np.abs(b.hi))


def _likely_on(z: Bounds) -> np.ndarray:
    return z.hi >= -z.lo


class _State:
    """Back-substitution of the rows ``Lam[target] = [E; -E]`` (lower bounds of the selected
    entries and of their negations) towards the leaves."""

    def __init__(self, graph: IRGraph, bounds: dict[str, Bounds], n_rows: int):
        self.graph, self.bounds = graph, bounds
        self.lam: dict[str, Lam] = {}
        self.absdot: dict[str, np.ndarray] = {}      # sum |contribution| @ magnitude (rounding)
        self.count: dict[str, int] = {}
        self.const = np.zeros(n_rows)
        self.err = np.zeros(n_rows)

    def add(self, node: str, coef: Lam) -> None:
        if node not in self.lam:
            self.lam[node] = coef
            self.count[node] = 1
            return
        mag = _mag(self.bounds[node])                # a sum of contributions gets rounded
        if self.count[node] == 1:
            self.absdot[node] = _absdot(self.lam[node], mag)
        self.absdot[node] = self.absdot[node] + _absdot(coef, mag)
        self.lam[node] = _plus(self.lam[node], coef)
        self.count[node] += 1

    def pop(self, node: str) -> Lam | None:
        lam = self.lam.pop(node, None)
        if lam is None:
            return None
        k = self.count.pop(node)
        if k > 1:                                    # the sum of k contributions was rounded
            self.err += gamma(k + 1) * self.absdot.pop(node)
        return lam


def _bs_leaf(s: _State, name: str, op, lam: Lam) -> None:
    """Concretise over the leaf's box (inputs) or its value (constants)."""
    b = s.bounds[name]
    s.const += _split_dot(lam, b.lo, b.hi)
    s.err += gamma(2 * lam.shape[1] + 2) * _absdot(lam, _mag(b))


def _bs_affine(s: _State, name: str, op: Affine, lam: Lam) -> None:
    s.const += lam @ op.bias
    w = np.abs(op.bias).copy()
    n = 1
    for t in op.terms:
        m = _mag(s.bounds[t.src])
        if t.is_diag:
            s.add(t.src, _scaled(lam, t.weight, t.weight))
            w = w + np.abs(t.weight) * m
            n += 1
        else:
            s.add(t.src, _lam_times(lam, t.weight))
            w = w + absolute(t.weight) @ m
            n += t.in_size()
    # products lam @ W (inner dimension <= size of the node) and the bias sum
    s.err += gamma(2 * (n + lam.shape[1]) + 4) * _absdot(lam, w)


def _gate_value(s: _State, gate: str):
    """(fixed mask, fixed value, gate-input bounds or None) of a switch gate."""
    g = s.graph.op(gate)
    gb = s.bounds[gate]
    fixed = gb.lo == gb.hi
    return fixed, gb.lo, g


def _bs_switch(s: _State, name: str, op: Switch, lam: Lam) -> None:
    xb = s.bounds[op.src]
    fixed, aval, gop = _gate_value(s, op.gate)
    l, u = xb.lo, xb.hi
    mx = _mag(xb)
    on = np.where(fixed & (aval == 1.0), 1.0, 0.0)    # stable-on entries: y = x
    openm = ~fixed
    relu = getattr(gop, "src", None) == op.src
    w = on * mx
    zero = np.zeros(op.size)
    if relu:
        # unstable ReLU: y <= s (x - l) with s = u/(u-l); y >= alpha x
        span = np.where(openm, u - l, 1.0)
        slope = np.where(openm, u / span, 0.0)
        icpt = np.where(openm, -slope * l, 0.0)
        alpha = np.where(openm & (u >= -l), 1.0, 0.0)
        s.add(op.src, _scaled(lam, on + alpha, on + slope))
        s.const += _split_dot(lam, zero, icpt)
        delta = np.where(openm, 8 * _EPS * (np.abs(l) + np.abs(u)), 0.0)
        w = w + np.where(openm, mx + np.abs(icpt), 0.0)
        s.err += _split_dot(lam, zero, -delta)
    elif openm.any():
        # McCormick of y = x a on [l, u] x [0, 1]:
        #   lower: P1 = l a          (exact at a = 0)   P2 = x + u a - u  (exact at a = 1)
        #   upper: Q1 = u a                             Q2 = x + l a - l
        likely = openm & _likely_on(s.bounds[gop.src]) if isinstance(gop, Conditional) else openm
        onf = np.where(likely, 1.0, 0.0)
        offf = np.where(openm & ~likely, 1.0, 0.0)
        s.add(op.src, _scaled(lam, on + onf, on + onf))
        s.add(op.gate, _scaled(lam, onf * u + offf * l, onf * l + offf * u))
        s.const += _split_dot(lam, -onf * u, -onf * l)
        w = w + np.where(openm, mx + 2 * np.maximum(np.abs(l), np.abs(u)), 0.0)
    else:
        s.add(op.src, _scaled(lam, on, on))
    s.err += gamma(2 * lam.shape[1] + 8) * _absdot(lam, w)


def _bs_conditional(s: _State, name: str, op: Conditional, lam: Lam) -> None:
    b = s.bounds[name]
    zb = s.bounds[op.src]
    fixed = b.lo == b.hi
    value = np.where(fixed, b.lo, 0.0)
    openm = ~fixed & (zb.lo < 0) & (zb.hi > 0)
    # open gate whose input bounds do not straddle 0 cannot happen for sound bounds; treat as
    # [0,1]; so does an open one: its upper bound where likely on and its lower bound where likely
    # off are the constants 1 and 0
    s.const += _split_dot(lam, value, value + np.where(fixed, 0.0, 1.0))
    if openm.any():
        l = np.where(openm, zb.lo, -1.0)
        u = np.where(openm, zb.hi, 1.0)
        on = openm & (u >= -l)
        off = openm & ~on
        ku = np.where(on, 1.0 / u, 0.0)              # a >= z/u     (lower, likely on)
        kl = np.where(off, -1.0 / l, 0.0)            # a <= 1 - z/l (upper, likely off)
        s.add(op.src, _scaled(lam, ku, kl))
        delta = np.where(openm, 4 * _EPS, 0.0)
        w = np.where(openm, (np.abs(ku) + np.abs(kl)) * _mag(zb) + 1.0, 0.0)
        s.err += _absdot(lam, delta + gamma(2 * lam.shape[1] + 8) * w)


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
    E = sp.csr_array((np.repeat([1.0, -1.0], k), (np.arange(2 * k), np.tile(entries, 2))),
                     shape=(2 * k, graph.size(target)))
    s = _State(graph, bounds, 2 * k)
    s.add(target, _settle(E))
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
