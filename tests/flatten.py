"""Flatten a forward IR made of affine maps and ReLUs into dense layers for the oracle.

Every value of the network is an affine function of the input x and of the ReLU outputs; ReLUs
are grouped in layers by depth.  Layer k of the MLP carries x - lo + 1 (>= 1 on the domain, so
its ReLU is the identity) and every earlier ReLU output + 1 through identity neurons, and
computes the ReLUs of depth k.  The result is checked numerically against the original model by the caller,
so a flattening mistake cannot pass silently.
"""
from __future__ import annotations

import numpy as np

from lipc.core.ir import Affine, Conditional, Input, Switch


def _dense(term, n_in):
    W = term.weight
    if hasattr(W, "toarray"):
        return W.toarray()
    return np.diag(W) if W.ndim == 1 else np.asarray(W)


def flatten_mlp(net, lo):
    g = net.graph
    d = net.n_inputs
    relus, depth, expr = [], {}, {}       # expr[v] = (dict basis -> matrix, bias)
    for name in g.topo():
        op = g.op(name)
        if isinstance(op, Input):
            expr[name] = ({name: np.eye(d)}, np.zeros(d))
            depth[name] = 0
        elif isinstance(op, Affine):
            terms, bias = {}, op.bias.astype(float).copy()
            for t in op.terms:
                W = _dense(t, g.size(t.src))
                sub, sb = expr[t.src]
                bias += W @ sb
                for k, M in sub.items():
                    terms[k] = terms.get(k, 0) + W @ M
            expr[name] = (terms, bias)
            depth[name] = max(depth[t.src] for t in op.terms)
        elif isinstance(op, Switch):
            assert g.op(op.gate).src == op.src, "only ReLUs can be flattened"
            relus.append(name)
            depth[name] = depth[op.src] + 1
            expr[name] = ({name: np.eye(op.size)}, np.zeros(op.size))
        elif not isinstance(op, Conditional):
            raise TypeError(type(op).__name__)
    x = net.input
    layers = sorted({depth[r] for r in relus})
    # blocks of the current layer's output as (key, size, offset): stored = true value + offset.
    # Carried blocks hold value + 1 >= 1 (x carried as x - lo + 1), so their ReLUs are strictly
    # active on the domain and the oracle never has to decide them.
    state = [(x, d, np.zeros(d))]
    Ws, bs = [], []

    def row_block(basis_terms, bias):
        """The rows computing sum_k M_k value_k + bias from the current state's blocks."""
        cols, shift = [], bias.copy()
        for key, size, off in state:
            M = basis_terms.get(key, np.zeros((bias.size, size)))
            shift = shift - M @ off
            cols.append(M)
        return np.hstack(cols), shift

    last_use = {}                                   # block -> deepest layer reading it
    for r in relus:
        for key in expr[g.op(r).src][0]:
            last_use[key] = max(last_use.get(key, 0), depth[r])
    for key in expr[net.output][0]:
        last_use[key] = np.inf

    for k in layers:
        W_rows, b_rows, new_state = [], [], []
        for key, size, off in state:                # carry the blocks still needed later
            if last_use.get(key, 0) <= k:
                continue
            new_off = (1.0 - lo) if key == x else np.ones(size)
            M, s = row_block({key: np.eye(size)}, new_off)
            W_rows.append(M)
            b_rows.append(s)
            new_state.append((key, size, new_off))
        for r in [r for r in relus if depth[r] == k]:
            M, s = row_block(*expr[g.op(r).src])
            W_rows.append(M)
            b_rows.append(s)
            new_state.append((r, g.size(r), np.zeros(g.size(r))))
        Ws.append(np.vstack(W_rows))
        bs.append(np.concatenate(b_rows))
        state = new_state
    M, s = row_block(*expr[net.output])
    Ws.append(M)
    bs.append(s)
    return Ws, bs


def mlp_forward(Ws, bs, x):
    h = x
    for W, b in zip(Ws[:-1], bs[:-1]):
        h = np.maximum(W @ h + b, 0)
    return Ws[-1] @ h + bs[-1]
