"""Input regions from VNN-LIB property files (the VNN-COMP format, an SMT-LIB subset).

The input side makes a domain (:func:`read_vnnlib`): ``(declare-const X_i Real)`` and assertions over the X variables —
bounds ``(<= X_3 0.5)`` / ``(>= X_3 0.1)`` (either argument order) and linear constraints such as
``(<= (+ X_0 (* -2.0 X_1)) 1)``, which make a polytope domain.  Assertions on the outputs Y are
the property to verify, not part of the region, and are skipped there;
:func:`output_constraints` reads them on their own (the linear atoms ``a . Y <= c`` of the
property's and/or formula), which is how ``lipc bench build --vnncomp`` names the question.  A disjunction of input regions
(``or`` of several disjuncts) is refused: each disjunct is its own domain.

Every statement that is not one of these is an error naming its line, never skipped: a region
silently larger or smaller than the file says would give a wrong constant.  That covers
malformed declarations (``X_-1``, ``X_abc``, a duplicate, a gap in the numbering), empty
``(assert)``, undeclared or out-of-range variables, non-finite numbers (``nan``), assertions
without any variable (``(<= (* 0 X_0) -1)`` — an empty or vacuous region), and nesting deeper
than :data:`MAX_DEPTH` (real files nest a handful of levels; the limit keeps every later walk far
from Python's recursion limit).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..errors import DomainError
from ..util.compressed import read_maybe_gzip

MAX_DEPTH = 64
MAX_BYTES = 2 ** 30             # inflated size of a .vnnlib.gz (the largest VNN-COMP files: ~100 MB)
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_VAR = re.compile(r"([XY])_(0|[1-9][0-9]*)")
_COMPARE = {"<=": 1.0, "<": 1.0, ">=": -1.0, ">": -1.0}


class _Form(list):
    """A parenthesised form, remembering the line it starts on (for messages)."""
    line: int = 0


def _err(line: int, message: str) -> DomainError:
    return DomainError(f"VNN-LIB line {line}: {message}")


def _short(expr) -> str:
    """A readable, bounded rendering of an expression for messages."""
    text = expr if isinstance(expr, str) else "(" + " ".join(_short(e) for e in expr[:6]) + (
        " ...)" if len(expr) > 6 else ")")
    return text if len(text) <= 80 else text[:77] + "..."


def _parse(text: str) -> list:
    """Top-level S-expressions of the file (comments after ';' removed), iteratively."""
    stack: list[_Form] = [_Form()]
    for number, line in enumerate(text.splitlines(), 1):
        for tok in _TOKEN.findall(line.split(";", 1)[0]):
            if tok == "(":
                if len(stack) > MAX_DEPTH:
                    raise _err(number, f"nested deeper than {MAX_DEPTH} levels")
                form = _Form()
                form.line = number
                stack.append(form)
            elif tok == ")":
                if len(stack) == 1:
                    raise _err(number, "unbalanced ')'")
                done = stack.pop()
                stack[-1].append(done)
            else:
                stack[-1].append(tok)
    if len(stack) != 1:
        raise _err(stack[-1].line, "unbalanced '(' (this form is never closed)")
    return stack[0]


def _mentions(expr, kind: str) -> bool:
    if isinstance(expr, str):
        m = _VAR.fullmatch(expr)
        return bool(m and m.group(1) == kind) or expr.startswith(kind + "_")
    return any(_mentions(e, kind) for e in expr)


def _number(tok: str, line: int) -> float:
    try:
        value = float(tok)
    except ValueError:
        raise _err(line, f"unknown symbol {tok!r}") from None
    if not math.isfinite(value):
        raise _err(line, f"the number {tok!r} is not finite")
    return value


def _linear(expr, index: dict[str, int], d: int, line: int) -> tuple[np.ndarray, float]:
    """(a, c) with expr = a . X + c, for +, -, * by constants, numbers and X variables."""
    if isinstance(expr, str):
        if expr in index:
            a = np.zeros(d)
            a[index[expr]] = 1.0
            return a, 0.0
        if expr.startswith("X_"):
            raise _err(line, f"{expr} is not a declared input variable")
        return np.zeros(d), _number(expr, line)
    if len(expr) < 2 or not isinstance(expr[0], str):
        raise _err(line, f"malformed term {_short(expr)}")
    op, *args = expr
    parts = [_linear(a, index, d, line) for a in args]
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
                raise _err(line, "product of two variables is not linear")
            a, c = (q * c if np.any(q) else a * k), c * k
        return a, c
    raise _err(line, f"unsupported operator {op!r} in an input constraint")


def _declarations(forms: list, dim: int) -> dict[str, int]:
    """{X_i: i} from the declare-const forms; the X indices must be exactly 0..dim-1."""
    index: dict[str, int] = {}
    seen: set[str] = set()
    for f in forms:
        if not isinstance(f, list):
            raise DomainError(f"VNN-LIB: stray token {f!r} outside any statement")
        if not f or f[0] not in ("declare-const", "assert"):
            raise _err(f.line, f"unsupported statement {_short(f)} (VNN-LIB has declare-const "
                       "and assert)")
        if f[0] != "declare-const":
            continue
        if len(f) != 3 or not isinstance(f[1], str) or f[2] != "Real":
            raise _err(f.line, f"malformed declaration {_short(f)}; expected "
                       "(declare-const X_i Real)")
        m = _VAR.fullmatch(f[1])
        if m is None:
            raise _err(f.line, f"variable name {f[1]!r} is not X_i or Y_i with i = 0, 1, 2, ...")
        if f[1] in seen:
            raise _err(f.line, f"{f[1]} is declared twice")
        seen.add(f[1])
        if m.group(1) == "X":
            i = int(m.group(2))
            if i >= dim:
                raise _err(f.line, f"{f[1]} is beyond the network's {dim} inputs "
                           f"(X_0 .. X_{dim - 1})")
            index[f[1]] = i
    if len(index) != dim:
        missing = sorted(set(range(dim)) - set(index.values()))
        raise DomainError(f"VNN-LIB: {len(index)} input variables declared, the network has "
                          f"{dim} inputs (X_{missing[0]} is not declared)")
    return index


def _text(path: str | Path) -> str:
    """The file's text (``.vnnlib`` or gzip-compressed ``.vnnlib.gz``, as VNN-COMP ships them)."""
    p = Path(path)
    if not p.is_file():
        raise DomainError(f"VNN-LIB file not found: {path}")
    data = read_maybe_gzip(p, MAX_BYTES, "a VNN-LIB property", DomainError)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise _err(line, f"not UTF-8 text (byte {exc.object[exc.start]:#04x})") from None


def read_vnnlib(path: str | Path, dim: int):
    """(lo, hi, A, b): box bounds and linear rows A x <= b of the input region."""
    forms = _parse(_text(path))
    index = _declarations(forms, dim)
    lo, hi = np.full(dim, -np.inf), np.full(dim, np.inf)
    rows, rhs = [], []
    for f in forms:
        if f[0] != "assert":
            continue
        if len(f) != 2:
            raise _err(f.line, f"an assert holds exactly one formula, not {len(f) - 1}")
        body = f[1]
        if not _mentions(body, "X"):
            if not _mentions(body, "Y"):
                raise _err(f.line, f"{_short(body)} mentions no variable X_i or Y_i")
            continue                                   # an output property
        if _mentions(body, "Y"):
            raise _err(f.line, "an assertion mixes inputs X and outputs Y; lipc reads the input "
                       "region only")
        with np.errstate(over="ignore", invalid="ignore"):    # overflow is checked, refused
            for atom in _conjuncts(body, f.line):
                _constraint(atom, index, dim, lo, hi, rows, rhs, f.line)
    return lo, hi, (np.array(rows) if rows else None), (np.array(rhs) if rhs else None)


def _conjuncts(body, line: int) -> list:
    """The atoms of a conjunction (nested ``and`` flattened; an ``or`` of one disjunct, as
    VNN-COMP files write it, is that disjunct)."""
    if isinstance(body, list) and body[:1] == ["or"]:
        if len(body) != 2:
            raise _err(line, "a disjunction of input regions is not supported; write one "
                       "property file per region")
        return _conjuncts(body[1], line)
    if isinstance(body, list) and body[:1] == ["and"]:
        if len(body) == 1:
            raise _err(line, "empty (and)")
        return [atom for part in body[1:] for atom in _conjuncts(part, line)]
    return [body]


def _constraint(atom, index, d, lo, hi, rows, rhs, line: int) -> None:
    if not isinstance(atom, list) or atom[:1] == [] or atom[0] not in _COMPARE or len(atom) != 3:
        raise _err(line, f"unsupported input assertion {_short(atom)}; expected (<= a b), "
                   "(>= a b) or a conjunction of them")
    left, right = _linear(atom[1], index, d, line), _linear(atom[2], index, d, line)
    sign = _COMPARE[atom[0]]
    a, c = sign * (left[0] - right[0]), sign * (right[1] - left[1])     # a . x <= c
    if not (np.all(np.isfinite(a)) and math.isfinite(c)):
        raise _err(line, f"{_short(atom)} overflows to a non-finite coefficient")
    nz = np.flatnonzero(a)
    if nz.size == 0:
        what = "is never true: the region is empty" if c < 0 else \
            "constrains no input variable (every coefficient is zero)"
        raise _err(line, f"{_short(atom)} {what}")
    if nz.size == 1:                                        # a bound on one variable
        i, k = int(nz[0]), float(c / a[nz[0]])
        if not math.isfinite(k):
            raise _err(line, f"{_short(atom)} gives a non-finite bound")
        if a[i] > 0:
            hi[i] = min(hi[i], k)
        else:
            lo[i] = max(lo[i], k)
    else:
        rows.append(a)
        rhs.append(c)


def output_constraints(path: str | Path) -> tuple[int, list[tuple[np.ndarray, float]]]:
    """(number of outputs Y declared, the atoms ``a . Y <= c`` of the assertions on the outputs,
    every and/or level flattened: the property's linear pieces, not its logic)."""
    forms = _parse(_text(path))
    names = [f[1] for f in forms if isinstance(f, list) and f[:1] == ["declare-const"]
             and len(f) == 3 and isinstance(f[1], str) and f[1].startswith("Y_")]
    index = {n: int(n[2:]) for n in names if _VAR.fullmatch(n)}
    m = len(index)
    if sorted(index.values()) != list(range(m)) or len(names) != m:
        raise DomainError(f"VNN-LIB {path}: the outputs must be declared as Y_0 .. Y_(m-1), "
                          "once each")
    atoms = []
    for f in forms:
        if not (isinstance(f, list) and f[:1] == ["assert"] and len(f) == 2
                and _mentions(f[1], "Y") and not _mentions(f[1], "X")):
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            for atom in _atoms(f[1]):
                if not (isinstance(atom, list) and len(atom) == 3 and atom[0] in _COMPARE):
                    raise _err(f.line, f"unsupported output assertion {_short(atom)}")
                (la, lc), (ra, rc) = (_linear(t, index, m, f.line) for t in atom[1:])
                sign = _COMPARE[atom[0]]
                a, c = sign * (la - ra), sign * (rc - lc)
                if np.any(a) and np.all(np.isfinite(a)) and math.isfinite(c):
                    atoms.append((a, float(c)))
    return m, atoms


def _atoms(body) -> list:
    """The comparisons under any nesting of ``and`` / ``or``."""
    if isinstance(body, list) and body[:1] in (["and"], ["or"]):
        return [a for part in body[1:] for a in _atoms(part)]
    return [body]
