"""Giving lipc expressions a meaning: an iterative walker and two interpreters over one tree.

An expression evaluates to a *constant* (a float64 numpy array: a number, vector or matrix), a
*symbolic vector* (depends on the input), a string, an ONNX function, a domain specification or a
keyword argument.  :class:`Interpreter` owns everything both interpreters share — the rule table
keyed by grammar rule, constant folding, and the shape checks that decide what an operation means
— and leaves the symbolic operations to a subclass:

* :class:`Reference` (this module) evaluates symbolic vectors as numpy batches ``(B, n)``
  directly: ``relu`` is ``np.maximum``, indexing is numpy indexing, an ONNX call runs the ONNX
  model's own reference evaluator.  It is the network's independent ``reference`` evaluator.
* ``lipc.frontends.dsl.build.Builder`` lowers them to IR nodes (affine / conditional / switch).

Evaluation is an explicit-stack post-order walk, so long expressions cannot hit Python's recursion
limit.  Every rule runs inside :func:`~lipc.frontends.dsl.parse.located`, so errors carry the position of
the innermost expression.
"""
from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from lark import Token, Tree

from ...util.arrays import load_array
from .parse import Source, located
from ...errors import DSLError, DSLNameError, DSLShapeError
from ..onnx.reader import load_onnx


_NUM = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ROW = re.compile(r"\[([^\[\]]*)\]")


def _finite(text: str) -> float:
    """A numeric literal; one beyond float64 (1e400) is an error, not inf."""
    value = float(text)
    if not np.isfinite(value):
        raise DSLError(f"the number {text} is beyond float64 (it would be infinite)")
    return value


def string_literal(text: str) -> str:
    """The value of a quoted string token (Python escapes); a bad escape is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # "\\q" is a SyntaxWarning: refuse it
        try:
            return ast.literal_eval(text)
        except (SyntaxError, ValueError, SyntaxWarning, DeprecationWarning) as exc:
            raise DSLError(f"bad string {text}: {getattr(exc, 'msg', exc)}") from None


class Sym:
    """A vector that depends on the input (subclassed by each interpreter)."""

    size: int


@dataclass
class Func:
    """An ONNX model used as a function: ``f = onnx("net.onnx")``."""

    network: object          # lipc.core.network.Network
    path: str

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.network.reference(X)


@dataclass
class DomainSpec:
    """``box(lo, hi)``, ``linf(center, radius[, lo, hi])``, ``l1(...)``,
    ``polytope(A, b[, lo, hi])``; turned into a :class:`~lipc.question.domain.Domain` once the input
    dimension is known."""

    kind: str
    args: list
    kwargs: dict
    text: str


@dataclass
class Kw:
    name: str
    value: object


DOMAIN_KINDS = ("box", "linf", "l1", "polytope")


def describe(v) -> str:
    if isinstance(v, Sym):
        return f"an input-dependent vector of size {v.size}"
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return "a number"
        if v.ndim == 1:
            return f"a vector of size {v.size}"
        return f"a {'x'.join(map(str, v.shape))} {'matrix' if v.ndim == 2 else 'array'}"
    if isinstance(v, Func):
        return f"the ONNX function from {v.path}"
    if isinstance(v, DomainSpec):
        return f"the domain {v.text}"
    if isinstance(v, str):
        return "a string"
    return type(v).__name__


def is_const(v) -> bool:
    return isinstance(v, np.ndarray)


def vector_size(v) -> int:
    """Size of a vector operand (a number counts as size 1); shape errors for anything else."""
    if isinstance(v, Sym):
        return v.size
    if is_const(v) and v.ndim <= 1:
        return int(v.size)
    raise DSLShapeError(f"expected a number or a vector, got {describe(v)}")


def _index(v, n: int | None = None) -> int:
    if not (is_const(v) and v.ndim == 0 and float(v) == int(v)):
        raise DSLShapeError(f"an index must be an integer, got {describe(v)}")
    i = int(v)
    if n is not None and not -n <= i < n:
        raise DSLShapeError(f"index {i} is out of range for a vector of size {n}")
    return i


def rows_of(sub, n: int) -> np.ndarray:
    """The entries of a size-n vector selected by one subscript (int, slice, list of ints)."""
    if isinstance(sub, slice):
        return np.arange(n)[sub]
    if is_const(sub) and sub.ndim == 1:
        rows = [_index(np.asarray(k), n) for k in sub]
        return np.array(rows, dtype=np.int64) % n if rows else np.zeros(0, np.int64)
    return np.array([_index(sub, n) % n])


class Interpreter:
    """Rules shared by both interpreters; subclasses implement the ``sym_*`` operations on
    symbolic vectors (called with operands whose shapes have been checked)."""

    RULES: dict[str, Callable] = {}

    def __init__(self, env: dict, src: Source, base: Path):
        self.env, self.src, self.base = env, src, base

    # ------------------------------------------------------------------ the walker
    def eval(self, tree):
        """Post-order evaluation with an explicit stack (no recursion)."""
        stack, out = [(tree, False)], []
        rules = type(self).RULES
        while stack:
            node, ready = stack.pop()
            if not isinstance(node, Tree):
                out.append(node)
            elif ready:
                k = len(node.children)
                args = out[len(out) - k:] if k else []
                del out[len(out) - k:]
                with located(node, self.src), np.errstate(over="ignore", invalid="ignore"):
                    value = rules[node.data](self, node, args)      # overflow: check_finite
                    self.check_finite(value)
                    out.append(value)
            else:
                stack.append((node, True))
                stack.extend((c, False) for c in reversed(node.children))
        return out[0]

    def check_finite(self, value) -> None:
        """Refuse a constant that overflowed (1e200 * 1e200) rather than compute with inf/NaN;
        interpreters whose symbolic vectors carry numbers extend this."""
        if is_const(value) and not np.all(np.isfinite(value)):
            raise DSLError("the value is not finite (a number overflowed float64)")

    # ------------------------------------------------------------------ leaves
    def r_number(self, node, args):
        return np.array(_finite(str(args[0])))

    def r_string(self, node, args):
        return string_literal(str(args[0]))

    def r_var(self, node, args):
        name = str(args[0])
        if name not in self.env:
            raise DSLNameError(f"unknown name {name!r}" + self.did_you_mean(name))
        return self.env[name]

    def did_you_mean(self, name: str) -> str:
        import difflib
        close = difflib.get_close_matches(name, [k for k in self.env if not k.startswith("_")], 1)
        return f"; did you mean {close[0]!r}?" if close else ""

    def r_array(self, node, args):
        if all(is_const(a) for a in args):
            try:
                return np.array([np.asarray(a) for a in args], dtype=np.float64)
            except ValueError:
                raise DSLShapeError("the rows of a nested list must all have the same "
                                    "length") from None
        return self.concat(args)

    def r_numlist(self, node, args):
        """A list (or list of lists) of plain numbers, lexed as one token."""
        body = str(args[0]).strip()[1:-1]
        if "[" not in body:
            return np.array([_finite(t) for t in _NUM.findall(body)], dtype=np.float64)
        rows = [[_finite(t) for t in _NUM.findall(r)] for r in _ROW.findall(body)]
        if len({len(r) for r in rows}) > 1:
            raise DSLShapeError("the rows of a nested list must all have the same length")
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(rows[0]))

    def r_kwarg(self, node, args):
        return Kw(str(args[0]), args[1])

    def r_slice(self, node, args):
        parts = [None if a is None else _index(a) for a in args]
        if len(parts) == 3 and parts[2] == 0:
            raise DSLShapeError("a slice step cannot be zero")
        return slice(*parts)

    # ------------------------------------------------------------------ operators
    def _consts(self, fn, a, b, what):
        try:
            return np.asarray(fn(a, b), dtype=np.float64)
        except ValueError:
            raise DSLShapeError(f"cannot {what} {describe(a)} and {describe(b)}") from None

    def _broadcast_size(self, a, b, what: str) -> int:
        na, nb = vector_size(a), vector_size(b)
        if na != nb and 1 not in (na, nb):
            raise DSLShapeError(f"shape mismatch: cannot {what} {describe(a)} and {describe(b)} "
                                "(sizes must agree, or one side must be a single number)")
        return max(na, nb)

    def _add(self, a, b, sign: float, what: str):
        if is_const(a) and is_const(b):
            return self._consts(lambda u, v: u + sign * v, a, b, what)
        self._operands(a, b)
        self._broadcast_size(a, b, what)
        return self.sym_add(a, b, sign)

    def _operands(self, *vals):
        for v in vals:
            if not (is_const(v) or isinstance(v, Sym)):
                raise DSLError(f"expected a number, vector or matrix, got {describe(v)}")

    def r_add(self, node, args):
        return self._add(args[0], args[1], 1.0, "add")

    def r_sub(self, node, args):
        return self._add(args[0], args[1], -1.0, "subtract")

    def r_neg(self, node, args):
        self._operands(args[0])
        a = args[0]
        return np.asarray(-a) if is_const(a) else self.sym_scale(a, np.array(-1.0))

    def r_mul(self, node, args):
        a, b = args
        self._operands(a, b)
        if is_const(a) and is_const(b):
            return self._consts(np.multiply, a, b, "multiply")
        if isinstance(a, Sym) and isinstance(b, Sym):
            raise DSLError("the product of two input-dependent values is not piecewise linear; "
                           "lipc compiles affine maps, relu, abs and max")
        s, c = (a, b) if isinstance(a, Sym) else (b, a)
        if c.ndim > 1:
            raise DSLShapeError(f"cannot multiply {describe(c)} and {describe(s)} elementwise; "
                                "use @ for a matrix product")
        self._broadcast_size(s, c, "multiply")
        return self.sym_scale(s, c)

    def r_div(self, node, args):
        a, b = args
        self._operands(a, b)
        if isinstance(b, Sym):
            raise DSLError("dividing by an input-dependent value is not piecewise linear")
        if b.ndim > 1 or np.any(b == 0):
            raise DSLError("divide by a nonzero number (or a vector of nonzero numbers)")
        if is_const(a):
            return self._consts(np.divide, a, b, "divide")
        self._broadcast_size(a, b, "divide")
        return self.sym_scale(a, 1.0 / b)

    def r_matmul(self, node, args):
        a, b = args
        self._operands(a, b)
        if is_const(a) and is_const(b):
            if a.ndim == 0 or b.ndim == 0:
                raise DSLShapeError("@ needs vectors or matrices on both sides; use * with a "
                                    "number")
            return self._consts(np.matmul, a, b, "multiply (@)")
        if isinstance(a, Sym) and isinstance(b, Sym):
            raise DSLError("the product of two input-dependent values is not piecewise linear; "
                           "one side of @ must be a constant matrix")
        if is_const(a):
            W, s = a, b
            if W.ndim == 0 or W.shape[-1] != s.size:
                raise DSLShapeError(f"shape mismatch in @: {describe(W)} times {describe(s)}")
            return self.sym_linear(W if W.ndim == 2 else W[None, :], s)
        s, W = a, b                                    # x @ W = W^T x
        if W.ndim == 0 or W.shape[0] != s.size:
            raise DSLShapeError(f"shape mismatch in @: {describe(s)} times {describe(W)}")
        return self.sym_linear(W.T if W.ndim == 2 else W[None, :], s)

    def r_getitem(self, node, args):
        v, subs = args[0], args[1:]
        if is_const(v):
            key = tuple(s if isinstance(s, slice) else
                        (np.array([_index(np.asarray(k)) for k in s], dtype=np.int64)
                         if is_const(s) and s.ndim == 1 else _index(s)) for s in subs)
            try:
                return np.asarray(v[key], dtype=np.float64)
            except IndexError as exc:
                raise DSLShapeError(f"cannot index {describe(v)}: {exc}") from None
        if not isinstance(v, Sym):
            raise DSLError(f"cannot index {describe(v)}")
        if len(subs) != 1:
            raise DSLShapeError(f"{describe(v)} takes one subscript, got {len(subs)}")
        rows = rows_of(subs[0], v.size)
        if rows.size == 0:
            raise DSLShapeError("the selection is empty")
        return self.sym_take(v, rows)

    # ------------------------------------------------------------------ calls
    def r_call(self, node, args):
        name, rest = str(args[0]), args[1:]
        pos = [a for a in rest if not isinstance(a, Kw)]
        kws = {a.name: a.value for a in rest if isinstance(a, Kw)}
        if name in self.env:
            f = self.env[name]
            if not isinstance(f, Func):
                raise DSLError(f"{name!r} is {describe(f)}, not a function")
            if kws or len(pos) != 1:
                raise DSLError(f"the ONNX function {name!r} takes one argument (its input)")
            n_in = f.network.n_inputs
            if vector_size(pos[0]) != n_in:
                raise DSLShapeError(f"{name}() expects {n_in} inputs, got {describe(pos[0])}")
            if is_const(pos[0]):
                return f(np.broadcast_to(pos[0], (n_in,))[None, :])[0]
            return self.sym_call(f, pos[0])
        if name in DOMAIN_KINDS:
            return DomainSpec(name, pos, kws, self.src.snippet(node))
        if name not in BUILTINS:
            raise DSLNameError(f"unknown function {name!r}; built-in functions are "
                               f"{', '.join(sorted(BUILTINS))} and the domains "
                               f"{', '.join(DOMAIN_KINDS)}" + self.did_you_mean(name))
        fn, n_min, n_max = BUILTINS[name]
        if kws:
            raise DSLError(f"{name}() takes no keyword arguments")
        if not n_min <= len(pos) <= n_max:
            want = str(n_min) if n_min == n_max else f"{n_min} to {n_max}"
            raise DSLError(f"{name}() takes {want} argument{'s' * (n_max > 1)}, got {len(pos)}")
        return fn(self, *pos)

    def concat(self, parts):
        self._operands(*parts)
        for p in parts:
            vector_size(p)
        if all(is_const(p) for p in parts):
            return np.concatenate([np.atleast_1d(p) for p in parts]).astype(np.float64)
        return self.sym_concat([np.atleast_1d(p) if is_const(p) else p for p in parts])

    # the symbolic operations every interpreter provides
    def sym_add(self, a, b, sign): raise NotImplementedError
    def sym_scale(self, s, c): raise NotImplementedError
    def sym_linear(self, W, s): raise NotImplementedError
    def sym_take(self, s, rows): raise NotImplementedError
    def sym_concat(self, parts): raise NotImplementedError
    def sym_relu(self, s): raise NotImplementedError
    def sym_abs(self, s): raise NotImplementedError
    def sym_max(self, s): raise NotImplementedError
    def sym_max2(self, a, b): raise NotImplementedError
    def sym_call(self, f, s): raise NotImplementedError


# ---------------------------------------------------------------------- built-in functions

def _unary(const_fn, sym_name):
    def run(it: Interpreter, a):
        it._operands(a)
        return np.asarray(const_fn(a), dtype=np.float64) if is_const(a) \
            else getattr(it, sym_name)(a)
    return run


def _max(sign: float):
    """max (sign 1) or min (sign -1) of a vector's entries, or elementwise of two operands:
    min(a, b) = -max(-a, -b)."""
    def run(it: Interpreter, a, b=None):
        it._operands(a) if b is None else it._operands(a, b)
        if b is None:
            vector_size(a)
            if is_const(a):
                return np.asarray(np.max(sign * a) * sign, dtype=np.float64)
            if sign > 0:
                return it.sym_max(a)
            return it.sym_scale(it.sym_max(it.sym_scale(a, np.array(-1.0))), np.array(-1.0))
        if is_const(a) and is_const(b):
            return it._consts(lambda u, v: sign * np.maximum(sign * u, sign * v), a, b,
                              "take the max of")
        it._broadcast_size(a, b, "take the max of")
        if sign > 0:
            return it.sym_max2(a, b)
        neg = [np.asarray(-x) if is_const(x) else it.sym_scale(x, np.array(-1.0)) for x in (a, b)]
        return it.sym_scale(it.sym_max2(*neg), np.array(-1.0))
    return run


def _sum(it: Interpreter, a):
    it._operands(a)
    n = vector_size(a)
    return np.asarray(np.sum(a), dtype=np.float64) if is_const(a) \
        else it.sym_linear(np.ones((1, n)), a)


def _resolve(it: Interpreter, path) -> Path:
    if not isinstance(path, str):
        raise DSLError(f"expected a file name in quotes, got {describe(path)}")
    p = Path(path)
    p = p if p.is_absolute() else it.base / p
    if not p.exists():
        raise DSLError(f"file not found: {path} (paths are relative to the program's folder "
                       f"{it.base})")
    return p


def _load(it: Interpreter, path, key=None):
    """load("w.npy"), load("w.npz", "W1") (or the only array of an .npz)."""
    p = _resolve(it, path)
    if key is not None and not isinstance(key, str):
        raise DSLError(f"load({path!r}, ...): the array name must be a string".replace("'", '"'))
    return load_array(p, f"load({path!r})".replace("'", '"'), key=key, error=DSLError)


def _onnx(it: Interpreter, path):
    p = _resolve(it, path)
    cache = it.env.setdefault("__onnx__", {})
    if p not in cache:
        cache[p] = Func(load_onnx(p), path)
    return cache[p]


# name -> (function(interpreter, *args), min args, max args)
BUILTINS: dict[str, tuple[Callable, int, int]] = {
    "relu": (_unary(lambda a: np.maximum(a, 0.0), "sym_relu"), 1, 1),
    "abs": (_unary(np.abs, "sym_abs"), 1, 1),
    "max": (_max(1.0), 1, 2),
    "min": (_max(-1.0), 1, 2),
    "sum": (_sum, 1, 1),
    "concat": (lambda it, *parts: it.concat(list(parts)), 1, 1 << 30),
    "load": (_load, 1, 2),
    "onnx": (_onnx, 1, 1),
}


Interpreter.RULES = {
    "number": Interpreter.r_number,
    "string": Interpreter.r_string,
    "var": Interpreter.r_var,
    "array": Interpreter.r_array,
    "numlist": Interpreter.r_numlist,
    "kwarg": Interpreter.r_kwarg,
    "slice": Interpreter.r_slice,
    "add": Interpreter.r_add,
    "sub": Interpreter.r_sub,
    "neg": Interpreter.r_neg,
    "mul": Interpreter.r_mul,
    "div": Interpreter.r_div,
    "matmul": Interpreter.r_matmul,
    "getitem": Interpreter.r_getitem,
    "call": Interpreter.r_call,
}


# ---------------------------------------------------------------------- the reference evaluator

@dataclass
class Batch(Sym):
    """A symbolic vector evaluated on a batch of inputs: ``arr`` has shape (B, n)."""

    arr: np.ndarray

    @property
    def size(self) -> int:
        return int(self.arr.shape[1])


def _arr(v) -> np.ndarray:
    """A batch array, or a constant broadcast along a leading batch axis."""
    return v.arr if isinstance(v, Batch) else np.atleast_1d(v)[None, :]


class Reference(Interpreter):
    """Symbolic vectors as numpy batches: the program's own meaning, independent of the IR."""

    def sym_add(self, a, b, sign):
        return Batch(_arr(a) + sign * _arr(b))

    def sym_scale(self, s, c):
        return Batch(s.arr * np.atleast_1d(c)[None, :])

    def sym_linear(self, W, s):
        return Batch(s.arr @ W.T)

    def sym_take(self, s, rows):
        return Batch(s.arr[:, rows])

    def sym_concat(self, parts):
        B = next(p.arr.shape[0] for p in parts if isinstance(p, Batch))
        return Batch(np.hstack([np.broadcast_to(_arr(p), (B, _arr(p).shape[1])) for p in parts]))

    def sym_relu(self, s):
        return Batch(np.maximum(s.arr, 0.0))

    def sym_abs(self, s):
        return Batch(np.abs(s.arr))

    def sym_max(self, s):
        return Batch(np.max(s.arr, axis=1, keepdims=True))

    def sym_max2(self, a, b):
        return Batch(np.maximum(_arr(a), _arr(b)))

    def sym_call(self, f, s):
        return Batch(np.asarray(f(s.arr), dtype=np.float64))


@dataclass
class Evaluation:
    """What the reference evaluator needs to evaluate one expression of a program: the constants
    of the build, the symbolic assignments it depends on (in order) and the expression."""

    src: Source
    base: Path
    constants: dict
    input_name: str | None
    assigns: list = field(default_factory=list)     # [(name, tree)]
    expr: Tree | None = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        env = dict(self.constants)
        if self.input_name is not None:
            env[self.input_name] = Batch(X)
        it = Reference(env, self.src, self.base)
        for name, tree in self.assigns:
            env[name] = it.eval(tree)
        v = it.eval(self.expr)
        return np.ascontiguousarray(np.broadcast_to(_arr(v), (X.shape[0], _arr(v).shape[1])))


def names_used(tree: Tree) -> set[str]:
    """Names read by an expression (iteratively: lark's iter_subtrees uses a queue)."""
    return {str(t.children[0]) for t in tree.iter_subtrees()
            if t.data in ("var", "call") and isinstance(t.children[0], Token)}
