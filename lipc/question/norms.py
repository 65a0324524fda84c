"""Input norms: each knows its dual norm twice — as IR built from the three primitives (the MIP
objective) and as a numpy function (for verifying witnesses) — so the two cannot drift apart.

The Lipschitz constant for input norm alpha is the maximum of the *dual* norm of the gradient:

==================  =========================  ========================================
input norm          ||x||                      dual norm of the gradient g
==================  =========================  ========================================
``linf``            max_i |x_i|                sum_i |g_i|
``l1``              sum_i |x_i|                max_i |g_i|
``linf:w.npy``      max_i w_i |x_i|            sum_i |g_i| / w_i
``l1:w.npy``        sum_i w_i |x_i|            max_i |g_i| / w_i
``custom:V.npy``    unit ball conv(+-V rows)   max_k |v_k . g|
==================  =========================  ========================================

|g| = 2 * switch(g, cond(g)) - g and max(u, w) = w + switch(u - w, cond(u - w)), so no special
MIP gadget is needed, and bound inference folds every coordinate whose sign is certain.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import numpy as np

from ..util.arrays import load_array
from ..errors import QueryError, ShapeError
from ..core.ir import IRGraph, Term, affine, relu


def abs_node(graph: IRGraph, g: str) -> str:
    """Elementwise |g| = 2 relu(g) - g."""
    n = graph.size(g)
    r = relu(graph, g, label="|g| relu", stage="norm")
    return affine(graph, [Term(r, np.full(n, 2.0)), Term(g, -np.ones(n))], label="|g|",
                  stage="norm")


def sum_node(graph: IRGraph, t: str) -> str:
    return affine(graph, [Term(t, np.ones((1, graph.size(t))))], label="sum", stage="norm")


def _selector(rows: np.ndarray, n: int) -> np.ndarray:
    S = np.zeros((len(rows), n))
    S[np.arange(len(rows)), rows] = 1.0
    return S


def max_node(graph: IRGraph, t: str) -> str:
    """max_i t_i by a balanced tree of pairwise maxima: max(u, w) = w + relu(u - w).

    Each level halves the vector, so n - 1 conditionals in total and depth ceil(log2 n).
    """
    while graph.size(t) > 1:
        n = graph.size(t)
        half = n // 2
        even, odd = np.arange(0, 2 * half, 2), np.arange(1, 2 * half, 2)
        diff = affine(graph, [Term(t, _selector(even, n) - _selector(odd, n))],
                      label="max: u - w", stage="norm")
        r = relu(graph, diff, label="max: relu(u - w)", stage="norm")
        keep = list(odd) + ([n - 1] if n % 2 else [])
        m = half + n % 2
        carry = np.zeros((m, half))
        carry[np.arange(half), np.arange(half)] = 1.0
        t = affine(graph, [Term(r, carry), Term(t, _selector(np.array(keep), n))],
                   label="max", stage="norm")
    return t


@dataclass
class InputNorm:
    """A polyhedral norm on the input space, described by a linear map L and a reduction:
    the dual norm of g is reduce(|L g|) with reduce = sum (l1) or max (linf)."""

    name: str                        # as the user wrote it, for reports
    reduce: str                      # "sum" or "max"
    L: np.ndarray | None = None      # None: identity; 1-D: diagonal; 2-D: rows v_k

    @property
    def dual_name(self) -> str:
        return {"sum": "l1", "max": "linf"}[self.reduce] + ("" if self.L is None else " (scaled)")

    def _mapped(self, g: np.ndarray) -> np.ndarray:
        if self.L is None:
            return g
        return self.L * g if self.L.ndim == 1 else self.L @ g

    def dual(self, g: np.ndarray) -> float:
        """The dual norm of a numeric gradient (witness verification)."""
        a = np.abs(self._mapped(np.asarray(g, dtype=np.float64)))
        return float(a.sum() if self.reduce == "sum" else a.max(initial=0.0))

    def dual_error(self, e: np.ndarray, g: np.ndarray) -> float:
        """A bound on |dual(g + delta) - dual(g)| over |delta| <= e (triangle inequality), plus
        the rounding of mapping the float g by L (certified lower bounds, lipc.witness)."""
        e = np.asarray(e, dtype=np.float64)
        if self.L is not None:
            e = e + 2.0 * (g.size + 2) * np.finfo(np.float64).eps * np.abs(g)
            A = np.abs(self.L)
            e = A * e if A.ndim == 1 else A @ e
        return float(e.sum() if self.reduce == "sum" else e.max(initial=0.0))

    def objective(self, graph: IRGraph, g: str) -> str:
        """The dual norm of gradient node ``g`` as IR nodes; returns the scalar objective."""
        if self.L is not None:
            g = affine(graph, [Term(g, self.L)], label=f"{self.name}: L g", stage="norm")
        t = abs_node(graph, g)
        return sum_node(graph, t) if self.reduce == "sum" else max_node(graph, t)

    def check_dim(self, d: int) -> None:
        if self.L is not None and self.L.shape[-1] != d:
            raise ShapeError(f"input norm {self.name}: expects {self.L.shape[-1]} inputs, the "
                             f"network has {d}")


_L2_MESSAGE = ("the l2 norm has no exact MIP encoding (its unit ball is not a polytope), so lipc "
               "refuses to return a number for it. Exact polyhedral bounds are available: with "
               "L_inf and L_1 the values for --input-norm linf and --input-norm l1 on d inputs, "
               "max(L_1, L_inf/sqrt(d)) <= L_2 <= min(L_inf, sqrt(d)*L_1)")

_BASE = {"linf": "linf", "inf": "linf", "l_inf": "linf", "l-inf": "linf", "infinity": "linf",
         "max": "linf", "∞": "linf", "l∞": "linf",
         "l1": "l1", "1": "l1", "l_1": "l1", "l-1": "l1", "manhattan": "l1"}
_L2 = {"l2", "2", "l_2", "l-2", "euclidean"}


def _array(text: str, base: Path | None, what: str) -> np.ndarray:
    path = Path(text)
    if base is not None and not path.is_absolute() and not path.exists():
        path = base / path
    if text.endswith(".npy") or text.endswith(".npz"):
        arr = load_array(path, what, error=QueryError)
    else:
        try:
            arr = np.array([float(v) for v in text.split(",")])
        except ValueError:
            raise QueryError(f"{what}: {text!r} is neither a .npy file nor comma-separated "
                             "numbers") from None
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise QueryError(f"{what}: values must be finite")
    return arr


def _weighted(kind: str, arg: str, base: Path | None) -> InputNorm:
    w = _array(arg, base, f"weights of {kind}").ravel()
    if np.any(w <= 0):
        raise QueryError(f"weights of a weighted {kind} norm must be positive")
    # ||x|| = max_i w_i |x_i| (or sum) has dual sum_i |g_i| / w_i (or max)
    return InputNorm(f"{kind}:{arg}", "sum" if kind == "linf" else "max", 1.0 / w)


def _custom(arg: str, base: Path | None) -> InputNorm:
    V = _array(arg, base, "custom norm vertices")
    if V.ndim != 2 or V.shape[0] == 0:
        raise QueryError("custom norm: V must be a 2-D array, one vertex of the unit ball per row")
    if np.linalg.matrix_rank(V) < V.shape[1]:
        raise QueryError("custom norm: the vertices do not span the input space, so their "
                         "symmetric hull is not the unit ball of a norm")
    return InputNorm(f"custom:{arg}", "max", V)


def parse_input_norm(spec: str | InputNorm, base: Path | None = None) -> InputNorm:
    """``linf``, ``l1`` (and spellings), ``linf:w.npy``/``l1:w.npy`` (weighted, also comma lists),
    ``custom:V.npy`` (vertices of the unit ball, one per row; the ball is conv(+-V))."""
    if isinstance(spec, InputNorm):
        return spec
    text = str(spec).strip()
    kind, _, arg = text.partition(":")
    key = kind.lower()
    if key in _L2 or text.lower() in _L2:
        raise QueryError(_L2_MESSAGE)
    if key == "custom" and arg:
        return _custom(arg, base)
    if key in _BASE and arg:
        return _weighted(_BASE[key], arg, base)
    if key in _BASE:
        base_kind = _BASE[key]
        return InputNorm(base_kind, "sum" if base_kind == "linf" else "max")
    raise QueryError(f"unknown input norm {spec!r}; use linf, l1, linf:w.npy, l1:w.npy or "
                     "custom:V.npy")


def refuse_l2(spec: str) -> None:
    if str(spec).strip().lower() in _L2:
        raise QueryError(_L2_MESSAGE)

