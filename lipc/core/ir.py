"""The lipc intermediate representation: vector-valued nodes of three primitives in a DAG.

Every network and every query is expressed with just

* ``Affine``      y = sum_k W_k x_k + b      (W_k dense 2-D, or 1-D meaning a diagonal),
* ``Conditional`` a = [z > 0]                (either value allowed where z = 0),
* ``Switch``      y = x * a                  (a the output of a Conditional),

plus leaves ``Input`` (a vector variable ranging over a domain) and ``Const``.  ReLU is
``Switch(z, Conditional(z))``; the backward pass, |g|, max and the dual norms are compositions of
the same three, so every later stage (bound inference, lowering, evaluation) is one small table
keyed by these node types.  Nodes are immutable; the graph owns names, edges and annotations
(bounds), so passes can re-annotate without copying weights.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union

import networkx as nx
import numpy as np

from .sparse import CSR


@dataclass(frozen=True, eq=False)
class Term:
    """One summand W @ x of an affine node; ``weight`` is a dense 2-D array, a 1-D array (a
    diagonal: an elementwise scale) or a :class:`~lipc.core.sparse.CSR` matrix (convolutions,
    selections: never densified)."""

    src: str
    weight: np.ndarray

    @property
    def is_diag(self) -> bool:
        return self.weight.ndim == 1

    def apply(self, x: np.ndarray) -> np.ndarray:
        """W @ x for a vector x, or W @ X column-wise for a matrix X (one column per sample)."""
        if self.is_diag:
            return self.weight * x if x.ndim == 1 else self.weight[:, None] * x
        return self.weight @ x

    def transposed(self, src: str) -> "Term":
        """The reverse-mode term: W^T applied to ``src`` (a diagonal is its own transpose)."""
        if self.is_diag:
            return Term(src, self.weight)
        W = self.weight.T
        return Term(src, W if isinstance(W, CSR) else np.ascontiguousarray(W))

    def out_size(self) -> int:
        return int(self.weight.shape[0])

    def in_size(self) -> int:
        return int(self.weight.shape[-1])


@dataclass(frozen=True, eq=False)
class Input:
    """A vector decision variable; ``role`` is ``"input"`` for the network input x and ``"seed"``
    for the output-side vector c of the backward pass when it ranges over a set."""

    size: int
    role: str = "input"

    def sources(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class Const:
    value: np.ndarray

    @property
    def size(self) -> int:
        return int(self.value.shape[0])

    def sources(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class Affine:
    terms: tuple[Term, ...]
    bias: np.ndarray

    @property
    def size(self) -> int:
        return int(self.bias.shape[0])

    def sources(self) -> tuple[str, ...]:
        return tuple(t.src for t in self.terms)


@dataclass(frozen=True, eq=False)
class Conditional:
    src: str
    size: int

    def sources(self) -> tuple[str, ...]:
        return (self.src,)


@dataclass(frozen=True, eq=False)
class Switch:
    src: str
    gate: str
    size: int

    def sources(self) -> tuple[str, ...]:
        return (self.src, self.gate)


Op = Union[Input, Const, Affine, Conditional, Switch]


@dataclass
class Bounds:
    """Elementwise lower/upper bounds of a node, and the analysis that produced them."""

    lo: np.ndarray
    hi: np.ndarray
    source: str = "interval"

    @property
    def unstable(self) -> np.ndarray:
        """Mask of entries whose sign is not decided (0 strictly inside (lo, hi))."""
        return (self.lo < 0) & (self.hi > 0)


@dataclass
class LinearConstraint:
    """Extra rows lo <= sum_k A_k @ node_k <= hi tying leaves to their sets (a polytope domain, an
    l1 ball through auxiliary variables, the seed set of the output norm)."""

    terms: list[tuple[str, np.ndarray]]
    lo: np.ndarray
    hi: np.ndarray

    @property
    def nodes(self) -> list[str]:
        return [n for n, _ in self.terms]


@dataclass
class IRGraph:
    """A DAG of named ops over ``networkx.DiGraph`` plus the roles of distinguished nodes.

    ``labels`` keeps a human-readable origin (the ONNX node, or "backward of ...") per node and
    ``stage`` says which part of the query a node belongs to ("forward", "backward", "norm").
    """

    g: nx.DiGraph = field(default_factory=nx.DiGraph)
    bounds: dict[str, Bounds] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    constraints: list[LinearConstraint] = field(default_factory=list)
    _counter: int = 0

    # ------------------------------------------------------------------ construction
    @property
    def mark(self) -> int:
        """How many nodes were ever added: nodes ``v<k>`` with k >= a mark are newer than it."""
        return self._counter

    def restricted(self, keep: set[str]) -> "IRGraph":
        """A copy holding only ``keep`` that still hands out names after the original's."""
        return IRGraph(g=self.g.subgraph(keep).copy(), _counter=self._counter)

    def add(self, op: Op, label: str = "", stage: str = "forward") -> str:
        """Add ``op`` under a fresh MIP-safe name (``v<k>``) and return that name."""
        for s in op.sources():
            if s not in self.g:
                raise KeyError(f"source {s!r} is not in the graph")
        self._check_sizes(op)
        name = f"v{self._counter}"
        self._counter += 1
        self.g.add_node(name, op=op, label=label, stage=stage)
        for s in set(op.sources()):
            self.g.add_edge(s, name)
        return name

    def _check_sizes(self, op: Op) -> None:
        if isinstance(op, Affine):
            for t in op.terms:
                if t.out_size() != op.size or t.in_size() != self.size(t.src):
                    raise ValueError(f"affine term {t.weight.shape} does not map "
                                     f"{self.size(t.src)} -> {op.size}")
        elif isinstance(op, Conditional):
            if self.size(op.src) != op.size:
                raise ValueError("conditional size mismatch")
        elif isinstance(op, Switch):
            if self.size(op.src) != op.size or self.size(op.gate) != op.size:
                raise ValueError("switch size mismatch")
            if not isinstance(self.op(op.gate), (Conditional, Const)):
                raise ValueError("a switch gate must be a conditional (or a constant 0/1 vector)")

    # ------------------------------------------------------------------ queries
    def op(self, name: str) -> Op:
        return self.g.nodes[name]["op"]

    def size(self, name: str) -> int:
        return self.op(name).size

    def label(self, name: str) -> str:
        return self.g.nodes[name]["label"]

    def stage(self, name: str) -> str:
        return self.g.nodes[name]["stage"]

    def topo(self) -> list[str]:
        """Nodes in a deterministic topological order (creation order breaks ties)."""
        return list(nx.lexicographical_topological_sort(self.g, key=lambda n: int(n[1:])))

    def nodes(self) -> Iterator[str]:
        return iter(self.g.nodes)

    def __len__(self) -> int:
        return self.g.number_of_nodes()

    def role(self, role: str) -> str:
        for name, r in self.roles.items():
            if r == role:
                return name
        raise KeyError(f"the graph has no {role!r} node")

    def needed(self, *roots: str) -> set[str]:
        """``roots`` and everything they depend on: the only nodes worth lowering."""
        keep = set(roots)
        for r in roots:
            keep |= nx.ancestors(self.g, r)
        return keep

    def lint(self) -> None:
        """Structural invariants every pass must preserve (acyclic, sizes agree, roles exist)."""
        if not nx.is_directed_acyclic_graph(self.g):
            raise AssertionError("IR graph has a cycle")
        for name in self.g.nodes:
            op = self.op(name)
            self._check_sizes(op)
            if set(self.g.predecessors(name)) != set(op.sources()):
                raise AssertionError(f"edges of {name} disagree with its sources")
        for c in self.constraints:
            for node, A in c.terms:
                if A.shape != (c.lo.size, self.size(node)):
                    raise AssertionError(f"constraint block on {node} has shape {A.shape}")
        for name in self.roles:
            if name not in self.g:
                raise AssertionError(f"role node {name} missing")
        for name, b in self.bounds.items():
            if b.lo.shape != (self.size(name),) or np.any(b.lo > b.hi):
                raise AssertionError(f"bad bounds on {name}")


def relu(graph: IRGraph, z: str, label: str = "", stage: str = "forward") -> str:
    """ReLU as the paper writes it: switch(z, conditional(z))."""
    n = graph.size(z)
    a = graph.add(Conditional(z, n), label=f"{label} [cond]".strip(), stage=stage)
    return graph.add(Switch(z, a, n), label=label, stage=stage)


def affine(graph: IRGraph, terms: list[Term], bias: np.ndarray | None = None,
           label: str = "", stage: str = "forward") -> str:
    """Add an affine node, creating a zero bias when none is given."""
    size = terms[0].out_size()
    b = np.zeros(size) if bias is None else np.asarray(bias, dtype=np.float64)
    return graph.add(Affine(tuple(terms), b), label=label, stage=stage)
