"""Input regions from VNN-LIB property files (the VNN-COMP format, an SMT-LIB subset).

Only the input side is read: ``(declare-const X_i Real)`` and assertions over the X variables —
bounds ``(<= X_3 0.5)`` / ``(>= X_3 0.1)`` (either argument order) and linear constraints such as
``(<= (+ X_0 (* -2.0 X_1)) 1)``, which make a polytope domain.  Assertions on the outputs Y are
the property to verify, not part of the region, and are skipped.  A disjunction of input regions
(``or``) is refused: each disjunct is its own domain.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DomainError

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def _parse(text: str) -> list:
    """S-expressions of the file (comments after ';' removed)."""
    text = "\n".join(line.split(";", 1)[0] for line in text.splitlines())
    stack: list[list] = [[]]
    for tok in _TOKEN.findall(text):
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if len(stack) == 1:
                raise DomainError("VNN-LIB: unbalanced ')'")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok)
    if len(stack) != 1:
        raise DomainError("VNN-LIB: unbalanced '('")
    return stack[0]


def _mentions(expr, prefix: str) -> bool:
    if isinstance(expr, str):
        return expr.startswith(prefix)
    return any(_mentions(e, prefix) for e in expr)


def _linear(expr, index: dict[str, int], d: int) -> tuple[np.ndarray, float]:
    """(a, c) with expr = a . X + c, for +, -, * by constants, numbers and X variables."""
    if isinstance(expr, str):
        if expr in index:
            a = np.zeros(d)
            a[index[expr]] = 1.0
            return a, 0.0
        try:
            return np.zeros(d), float(expr)
        except ValueError:
            raise DomainError(f"VNN-LIB: unknown symbol {expr!r}") from None
    op, *args = expr
    parts = [_linear(a, index, d) for a in args]
    if op == "+":
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    if op == "-":
        if len(parts) == 1:
            return -parts[0][0], -parts[0][1]
        a, c = parts[0]
        for q, k in parts[1:]:
            a, c = a - q, c - k
        return a, c
    if op == "*":
        a, c = np.zeros(d), 1.0
        for q, k in parts:
            if np.any(q) and np.any(a):
                raise DomainError("VNN-LIB: product of two variables is not linear")
            a, c = (q * c if np.any(q) else a * k), c * k
        return a, c
    raise DomainError(f"VNN-LIB: unsupported operator {op!r} in an input constraint")


def read_vnnlib(path: str | Path, dim: int):
    """(lo, hi, A, b): box bounds and linear rows A x <= b of the input region."""
    p = Path(path)
    if not p.exists():
        raise DomainError(f"VNN-LIB file not found: {path}")
    forms = _parse(p.read_text())
    index: dict[str, int] = {}
    for f in forms:
        if isinstance(f, list) and f[:1] == ["declare-const"] and f[1].startswith("X_"):
            index[f[1]] = int(f[1][2:])
    if len(index) != dim:
        raise DomainError(f"VNN-LIB: {len(index)} input variables declared, the network has "
                          f"{dim} inputs")
    lo, hi = np.full(dim, -np.inf), np.full(dim, np.inf)
    rows, rhs = [], []
    for f in forms:
        if not (isinstance(f, list) and f[:1] == ["assert"]):
            continue
        body = f[1]
        if not _mentions(body, "X_"):
            continue                                   # an output property
        if body[0] in ("or",):
            raise DomainError("VNN-LIB: a disjunction of input regions is not supported; "
                              "write one property file per region")
        for atom in (body[1:] if body[0] == "and" else [body]):
            _constraint(atom, index, dim, lo, hi, rows, rhs)
    return lo, hi, (np.array(rows) if rows else None), (np.array(rhs) if rhs else None)


def _constraint(atom, index, d, lo, hi, rows, rhs) -> None:
    if not isinstance(atom, list) or atom[0] not in ("<=", ">=", "<", ">") or len(atom) != 3:
        raise DomainError(f"VNN-LIB: unsupported input assertion {atom!r}")
    left, right = _linear(atom[1], index, d), _linear(atom[2], index, d)
    a, c = left[0] - right[0], right[1] - left[1]          # a . x  (<= or >=)  c
    if atom[0] in (">=", ">"):
        a, c = -a, -c
    nz = np.flatnonzero(a)
    if nz.size == 1:                                        # a bound on one variable
        i, k = int(nz[0]), float(c / a[nz[0]])
        if a[i] > 0:
            hi[i] = min(hi[i], k)
        else:
            lo[i] = max(lo[i], k)
    elif nz.size:
        rows.append(a)
        rhs.append(c)
