"""Turning a MIP solution into a verified lower bound on the Lipschitz constant.

The solver's point x* usually sits on region boundaries, where "z > 0 means active" gives a
different gradient than the MIP's binaries.  What certifies the value is the *activation pattern*
of the binaries: lipc finds the point deepest inside that pattern's region (a Chebyshev-centre
LP: the largest ball inside both the region and the domain), then recomputes the gradient there
on the original network (its reference evaluator, not the IR) by central differences, which are
exact up to rounding on an affine piece.  The dual norm of that gradient is a true gradient norm
at an interior differentiable point, hence a sound lower bound whatever the compiler did.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .chebyshev import deepest_point
from ..compiler.pipeline import Problem
from ..core.ir import Affine, Conditional, Const, Input, Switch
from ..lowering import Lowered

@dataclass
class Witness:
    x_solver: list[float]                 # input part of the solver's solution
    x: list[float] | None                 # interior point of the maximising pattern's region
    radius: float                         # l2 radius of a ball around x inside region and domain
    pattern: dict[str, list[int]] = field(default_factory=dict)   # forward node -> 0/1 per entry
    c: list[float] | None = None          # the seed c in C attaining the value
    gradient: list[float] | None = None   # grad <c, f> recomputed on the original network
    value: float | None = None            # dual norm of ``gradient``: the verified lower bound


def _forward_pattern(p: Problem, low: Lowered, x: np.ndarray) -> dict[str, np.ndarray]:
    """0/1 value of every forward conditional at the solution (binaries rounded)."""
    pat = {}
    for name in low.values:
        if isinstance(p.graph.op(name), Conditional) and p.graph.stage(name) == "forward":
            pat[name] = (low.value_of(name, x) > 0.5).astype(int)
    return pat


def _region(p: Problem, pattern: dict[str, np.ndarray]):
    """Affine forms of forward nodes under a fixed pattern and the sign rows they impose.

    Returns rows (G, h) meaning G x <= h for the pattern's open entries (stable entries hold on
    the whole domain by soundness of the bounds).
    """
    d = p.network.n_inputs
    forms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    G, h = [np.zeros((0, d))], [np.zeros(0)]
    for name in p.graph.topo():
        if p.graph.stage(name) != "forward":
            continue
        op = p.graph.op(name)
        if isinstance(op, Input):
            forms[name] = (np.eye(d), np.zeros(d))
        elif isinstance(op, Const):
            forms[name] = (np.zeros((op.size, d)), op.value)
        elif isinstance(op, Affine):
            M, m = np.zeros((op.size, d)), op.bias.copy()
            for t in op.terms:
                Mx, mx = forms[t.src]
                M += t.apply(Mx)
                m += t.apply(mx)
            forms[name] = (M, m)
        elif isinstance(op, Conditional):
            a = pattern.get(name)
            if a is None:
                continue
            Mz, mz = forms[op.src]
            bd = p.graph.bounds[name]
            open_ = bd.lo != bd.hi
            sign = np.where(a == 1, -1.0, 1.0)[open_]       # a=1: -z <= 0 ; a=0: z <= 0
            G.append(sign[:, None] * Mz[open_])
            h.append(-sign * mz[open_])
            forms[name] = (np.zeros((op.size, d)), a.astype(float))
        elif isinstance(op, Switch):
            Mx, mx = forms[op.src]
            a = forms[op.gate][1]
            forms[name] = (a[:, None] * Mx, a * mx)
    return np.vstack(G), np.concatenate(h)


def reference_jacobian(p: Problem, x: np.ndarray, h: float) -> np.ndarray:
    """The Jacobian (m x d) of the original network at x by central differences of step h."""
    d = x.size
    E = np.eye(d) * h
    F = p.network.reference(np.vstack([x + E, x - E]))
    return ((F[:d] - F[d:]) / (2 * h)).T


def verify(p: Problem, low: Lowered, x_sol: np.ndarray) -> Witness:
    """Build the witness of a solution and its verified lower bound."""
    x_in = (low.value_of(p.network.input, x_sol) if p.network.input in low.values
            else p.domain.center)           # the objective may not depend on x at all
    pattern = _forward_pattern(p, low, x_sol)
    G, h = _region(p, pattern)
    center, radius = deepest_point(G, h, p.domain)
    w = Witness(x_in.tolist(), None, float(radius), {k: v.tolist() for k, v in pattern.items()})
    if center is None or not radius > 0:
        return w
    J = reference_jacobian(p, center, min(radius / 2, 1e-3 * (1 + np.max(np.abs(center)))))
    # any c in C gives a true lower bound.  The vertices of C are exact (and contain the
    # maximiser for this pattern); without them (a box C in many dimensions) use the solver's
    # c* clipped back into the box, since a solver's c may leave C by its tolerance.
    out = p.query.output
    vertices = out.vertices()
    if vertices is not None:
        seeds = list(vertices)
    else:
        seeds = [np.clip(low.value_of(p.graph.role("seed"), x_sol), out.set.lo, out.set.hi)]
    values = [p.query.input_norm.dual(J.T @ c) for c in seeds]
    best = int(np.argmax(values))
    w.x, w.c = center.tolist(), np.asarray(seeds[best], dtype=float).tolist()
    w.gradient = (J.T @ seeds[best]).tolist()
    w.value = float(values[best])
    return w
