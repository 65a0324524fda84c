"""The output side of a query: the set C of seed vectors c of the backward pass.

L^(alpha,beta)(f, X) = sup_x sup_{c in C} ||J(x)^T c||_{alpha*} with C the unit ball of the dual
of the output norm beta.  For a fixed activation pattern the objective is convex in c, so the
maximum over the polytope C equals the maximum over its vertices: continuous c in an exact
polyhedral description of C is exact, and needs no binary.

=====================  ===================================  ===========================
``--output-norm``      C                                   vertices
=====================  ===================================  ===========================
(``--output`` spec)    {c} a single functional              c
``linf``               l1 ball {||c||_1 <= 1}               +-e_i
``l1``                 box [-1, 1]^m                        {-1, 1}^m
``margin``             conv{e_i - e_j}: sum c = 0, |c|_1<=2  e_i - e_j (untargeted)
``margin:T``           conv{e_T - e_j}                      e_T - e_j (targeted)
``margin:center``      as margin:T, T = argmax f(centre)
=====================  ===================================  ===========================
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import QueryError, ShapeError
from ..core.ir import Bounds, Const, Input, IRGraph
from .linear_set import LinearSet, l1_ball
from .norms import refuse_l2

MAX_VERTICES = 4096      # beyond this the witness uses only the solver's c*


@dataclass
class OutputSet:
    name: str
    set: LinearSet
    fixed: np.ndarray | None = None            # a single functional: no variable at all
    vertex_fn: Callable[[], np.ndarray | None] | None = None

    @property
    def m(self) -> int:
        return int(self.set.lo.size)

    def seed(self, graph: IRGraph) -> str:
        """Add the seed node (a constant, or an input ranging over C) to the graph."""
        if self.fixed is not None:
            node = graph.add(Const(self.fixed.astype(np.float64)), label="output functional c",
                             stage="backward")
        else:
            node = graph.add(Input(self.m, role="seed"), label=f"seed c in C ({self.name})",
                             stage="backward")
            graph.bounds[node] = Bounds(self.set.lo.copy(), self.set.hi.copy(), "set")
            self.set.attach(graph, node, "seed")
        graph.roles[node] = "seed"
        return node

    def scaled(self, exp: int) -> "OutputSet | None":
        """The seed set 2**exp * C (exact, or None): the objective scales by 2**exp with it."""
        s = self.set.scaled(exp)
        if s is None:
            return None
        fixed = None if self.fixed is None else s.lo.copy()
        fn = self.vertex_fn

        def vertex_fn():
            v = fn()
            return None if v is None else np.ldexp(v, exp)
        return OutputSet(self.name, s, fixed, None if fn is None else vertex_fn)

    def vertices(self) -> np.ndarray | None:
        """Vertices of C (rows), or None when there are too many to enumerate."""
        if self.fixed is not None:
            return self.fixed[None, :]
        return self.vertex_fn()


def functional(c: np.ndarray, name: str = "") -> OutputSet:
    c = np.asarray(c, dtype=np.float64)
    return OutputSet(name or "functional", LinearSet(c.copy(), c.copy()), fixed=c)


def _signed_units(m: int) -> np.ndarray:
    return np.vstack([np.eye(m), -np.eye(m)])


def _linf(m: int, arg: str) -> OutputSet:
    ball = l1_ball(np.zeros(m), 1.0, -np.ones(m), np.ones(m))
    return OutputSet("linf", ball, vertex_fn=lambda: _signed_units(m))


def _l1(m: int, arg: str) -> OutputSet:
    def vertices():
        if 2 ** m > MAX_VERTICES:
            return None
        return np.array(list(itertools.product([-1.0, 1.0], repeat=m)))
    return OutputSet("l1", LinearSet(-np.ones(m), np.ones(m)), vertex_fn=vertices)


def _pairs(m: int, target: int | None) -> np.ndarray:
    rows = [np.eye(m)[i] - np.eye(m)[j] for i in range(m) for j in range(m)
            if i != j and (target is None or i == target)]
    return np.array(rows)


def margin_set(m: int, target: int | None) -> OutputSet:
    if m < 2:
        raise QueryError("a margin output norm needs at least two outputs")
    if target is None:        # conv{e_i - e_j} = {sum c = 0, ||c||_1 <= 2}
        ball = l1_ball(np.zeros(m), 2.0, -np.ones(m), np.ones(m))
        ball.A = np.vstack([ball.A, np.ones((1, m))])
        ball.B = np.vstack([ball.B, np.zeros((1, m))])
        ball.r_lo = np.append(ball.r_lo, 0.0)
        ball.r_hi = np.append(ball.r_hi, 0.0)
        return OutputSet("margin", ball, vertex_fn=lambda: _pairs(m, None))
    lo, hi = -np.ones(m), np.zeros(m)            # conv{e_t - e_j}: c_t = 1, c_j <= 0, sum = 0
    lo[target] = hi[target] = 1.0
    rows = LinearSet(lo, hi, np.ones((1, m)), None, np.zeros(1), np.zeros(1))
    return OutputSet(f"margin:{target}", rows, vertex_fn=lambda: _pairs(m, target))


OUTPUT_NORMS: dict[str, Callable[[int, str], OutputSet]] = {
    "linf": _linf,
    "l1": _l1,
}
_ALIASES = {"linf": "linf", "inf": "linf", "l_inf": "linf", "max": "linf",
            "l1": "l1", "1": "l1", "l_1": "l1"}


def parse_output_norm(spec: str, m: int, center_output: Callable[[], np.ndarray]) -> OutputSet:
    """``linf``, ``l1``, ``margin``, ``margin:T`` or ``margin:center`` for an m-output network;
    ``center_output()`` gives f(centre of the domain) for the targeted margin."""
    text = str(spec).strip()
    refuse_l2(text)
    kind, _, arg = text.partition(":")
    kind = kind.lower()
    if kind in ("margin", "cross", "cross-lipschitz"):
        if not arg:
            return margin_set(m, None)
        if arg.lower() in ("center", "centre", "auto"):
            return margin_set(m, int(np.argmax(center_output())))
        try:
            t = int(arg)
        except ValueError:
            raise QueryError(f"--output-norm margin:{arg}: the target must be an output index "
                             "or 'center'") from None
        if not 0 <= t < m:
            raise ShapeError(f"margin target {t} is out of range: the network has {m} outputs")
        return margin_set(m, t)
    if kind in _ALIASES and not arg:
        return OUTPUT_NORMS[_ALIASES[kind]](m, arg)
    raise QueryError(f"unknown output norm {spec!r}; use linf, l1, margin, margin:T or "
                     "margin:center")
