"""IR passes run after bound inference and before lowering (entries of ``compiler.PIPELINE``).

* :func:`fold_stable` — a conditional decided on the whole domain becomes a constant; a switch
  whose gate is then constant 1 everywhere is an alias of its input (consumers read the input),
  constant 0 everywhere a zero constant; an affine that is the identity is an alias too.
* :func:`merge_affines` — an affine read by exactly one other affine is substituted into it when
  that reduces nonzeros *and* the composed weights are exact in float64 (one factor diagonal with
  entries +-2^k), so the MIP still computes the network's function bit for bit (e.g. the l1
  objective sum(2 relu(g) - g) loses its |g| columns and rows).
* :func:`eliminate_dead` — nodes nothing needed depends on (the objective, domain constraints,
  role nodes) are removed, with their bounds.

Lowering already folds stable *entries* of partially stable nodes (value table), and fuses
switch∘conditional of the same value into the 4-row ReLU encoding, so these passes only ever
remove whole nodes.  They keep the IR semantics (tests evaluate the graph before and after) and
are skipped for ``--formulation paper``, which reproduces the original model as it was built.
"""
from __future__ import annotations

import numpy as np

from ..core.ir import Affine, Conditional, Const, IRGraph, Switch, Term
from ..core.sparse import CSR, nnz as sparse_nnz


def _protected(graph: IRGraph) -> set[str]:
    return set(graph.roles) | {n for c in graph.constraints for n in c.nodes}


def _rename(op, old: str, new: str):
    """``op`` with every source ``old`` replaced by ``new``."""
    if isinstance(op, Affine):
        return Affine(tuple(Term(new if t.src == old else t.src, t.weight) for t in op.terms),
                      op.bias)
    if isinstance(op, Conditional):
        return Conditional(new if op.src == old else op.src, op.size)
    if isinstance(op, Switch):
        return Switch(new if op.src == old else op.src, new if op.gate == old else op.gate,
                      op.size)
    return op


def _set_op(graph: IRGraph, name: str, op) -> None:
    """Replace a node's op and make its incoming edges agree with the new sources."""
    for s in list(graph.g.predecessors(name)):
        graph.g.remove_edge(s, name)
    graph.g.nodes[name]["op"] = op
    for s in set(op.sources()):
        graph.g.add_edge(s, name)


def _alias(graph: IRGraph, name: str, target: str) -> None:
    """Make every consumer of ``name`` read ``target`` instead, then drop ``name``."""
    for c in list(graph.g.successors(name)):
        _set_op(graph, c, _rename(graph.op(c), name, target))
    graph.g.remove_node(name)
    graph.bounds.pop(name, None)


def fold_stable(graph: IRGraph) -> dict[str, int]:
    keep = _protected(graph)
    folded = {"conditionals": 0, "switches": 0, "identities": 0}
    for name in graph.topo():
        op = graph.op(name)
        b = graph.bounds.get(name)
        if isinstance(op, Conditional) and b is not None and np.all(b.lo == b.hi):
            _set_op(graph, name, Const(b.lo.copy()))
            folded["conditionals"] += 1
    for name in graph.topo():
        op = graph.op(name)
        if name in keep:
            continue
        if isinstance(op, Switch) and isinstance(graph.op(op.gate), Const):
            a = graph.op(op.gate).value
            if np.all(a == 1.0):
                _alias(graph, name, op.src)
                folded["switches"] += 1
            elif np.all(a == 0.0):
                _set_op(graph, name, Const(np.zeros(op.size)))
                folded["switches"] += 1
        elif (isinstance(op, Affine) and len(op.terms) == 1 and op.terms[0].is_diag
              and np.all(op.terms[0].weight == 1.0) and np.all(op.bias == 0.0)):
            _alias(graph, name, op.terms[0].src)
            folded["identities"] += 1
    return folded


def _pow2(w: np.ndarray) -> bool:
    """Every entry is 0 or +-2^k: products with it are exact in binary floating point."""
    m, _ = np.frexp(np.abs(w))
    return bool(np.all((w == 0) | (m == 0.5)))


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray | None:
    """outer @ inner for weights of terms (1-D = diagonal); None when not exact (or sparse)."""
    if isinstance(outer, CSR) or isinstance(inner, CSR):
        return None
    od, idg = outer.ndim == 1, inner.ndim == 1
    if od and idg:
        return outer * inner if (_pow2(outer) or _pow2(inner)) else None
    if od:
        return outer[:, None] * inner if _pow2(outer) else None
    if idg:
        return outer * inner[None, :] if _pow2(inner) else None
    return None


def _nnz(w) -> int:
    return sparse_nnz(w)


def _combine(terms: list[Term], size: int) -> tuple[Term, ...] | None:
    """Sum terms reading the same source (exactly: the summed entries must not overlap)."""
    by_src: dict[str, list[np.ndarray]] = {}
    for t in terms:
        by_src.setdefault(t.src, []).append(t.weight)
    out = []
    for src, ws in by_src.items():
        if len(ws) == 1:
            out.append(Term(src, ws[0]))
            continue
        if any(isinstance(w, CSR) for w in ws):
            return None
        if all(w.ndim == 1 for w in ws):
            mats = ws
        else:
            mats = [np.diag(w) if w.ndim == 1 else w for w in ws]
        nz = sum((m != 0).astype(int) for m in mats)
        if np.any(nz > 1):                    # a real sum: rounding would change the function
            return None
        out.append(Term(src, np.sum(mats, axis=0)))
    return tuple(out)


def merge_affines(graph: IRGraph) -> int:
    keep = _protected(graph)
    merged = 0
    changed = True
    while changed:
        changed = False
        for name in graph.topo():
            op = graph.op(name)
            if name in keep or not isinstance(op, Affine) or np.any(op.bias != 0):
                continue
            succ = list(graph.g.successors(name))
            if len(succ) != 1 or not isinstance(graph.op(succ[0]), Affine):
                continue
            c = succ[0]
            cop = graph.op(c)
            terms: list[Term] = []
            ok = True
            for t in cop.terms:
                if t.src != name:
                    terms.append(t)
                    continue
                for s in op.terms:
                    w = _compose(t.weight, s.weight)
                    if w is None:
                        ok = False
                        break
                    terms.append(Term(s.src, w))
            if not ok:
                continue
            new_terms = _combine(terms, cop.size)
            if new_terms is None:
                continue
            before = sum(_nnz(t.weight) for t in cop.terms) + sum(_nnz(t.weight) for t in op.terms)
            if sum(_nnz(t.weight) for t in new_terms) >= before:
                continue
            _set_op(graph, c, Affine(new_terms, cop.bias))
            graph.g.remove_node(name)
            graph.bounds.pop(name, None)
            merged += 1
            changed = True
            break
    return merged


def eliminate_dead(graph: IRGraph) -> int:
    roots = _protected(graph)
    live = graph.needed(*roots) if roots else set(graph.nodes())
    dead = [n for n in graph.nodes() if n not in live]
    for n in dead:
        graph.g.remove_node(n)
        graph.bounds.pop(n, None)
    return len(dead)


# pass name -> function of the graph; run in this order by compiler.PIPELINE's "passes" entry
IR_PASSES = {
    "fold": fold_stable,
    "merge": merge_affines,
    "dce": eliminate_dead,
}


def run_passes(p) -> None:
    """The pipeline entry: every IR pass in order (skipped for the paper formulation); what
    each removed is kept in ``p.pass_stats``."""
    if p.options.formulation == "paper" or not getattr(p.options, "passes", True):
        return
    stats = {}
    for name, fn in IR_PASSES.items():
        stats[name] = fn(p.graph)
    setattr(p, "pass_stats", stats)


__all__ = ["fold_stable", "merge_affines", "eliminate_dead", "run_passes", "IR_PASSES"]


def resolve_options(p) -> None:
    """Pipeline entry before "bounds": ``--bounds auto`` means the formulation's own default,
    interval arithmetic for the paper formulation (as the original), lipc's best otherwise."""
    from dataclasses import replace

    if p.options.bounds == "auto" and p.options.formulation == "paper":
        p.options = replace(p.options, bounds="interval")
