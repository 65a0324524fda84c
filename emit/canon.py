"""The canonical form shared by the MPS and LP writers.

Both file formats need the same preparation: portable names, validated numbers, a minimisation
(readers disagree on objective-sense markers, see notes/mip-file-formats.md §0.2), the objective
constant moved onto a fixed column (readers disagree on its sign, §0.1), and one merged entry per
(row, column) (readers disagree on duplicates, §0.9).  Doing it once here keeps the writers thin
and guarantees that an `.mps` and an `.lp` file of the same model describe the same problem.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lipc.errors import LipcError, NumericError
from lipc.core.mip import FlatMIP

BIG = 1e20          # HiGHS and SCIP read finite |v| >= 1e20 as infinite; GLPK takes it literally
TINY = 1e-9         # HiGHS and SCIP silently drop coefficients with |a| < 1e-9
MAX_NAME = 64

_NAME = re.compile(r"(?![eE])[A-Za-z_][A-Za-z0-9_]{0,%d}" % (MAX_NAME - 1))
# LP keywords (CPLEX, Gurobi, HiGHS, SCIP, CoinLpIO spellings): a row or column with such a name
# can be taken for a section start, a bound keyword or a number (SCIP rejects a column `nan`).
_KEYWORDS = frozenset("""min max minimize maximize minimise maximise minimum maximum st subject to
    such that bound bounds bin binary binaries gen general generals int integer integers free inf
    infinity nan semi semis semicontinuous sos sos1 sos2""".split())


def check_names(names: list[str], kind: str) -> None:
    """Refuse names that some reader mangles: only ``[A-Za-z_][A-Za-z0-9_]*`` up to 64 characters
    (CBC crashes on long names), no leading e/E (read as an exponent in LP files), no LP keyword,
    no duplicates (readers silently merge or reject them)."""
    for name in names:
        if not _NAME.fullmatch(name):
            raise LipcError(f"{kind} name {name!r} is not portable: use [A-Za-z_][A-Za-z0-9_]* "
                            f"with at most {MAX_NAME} characters, not starting with e or E")
        if name.lower() in _KEYWORDS:
            raise LipcError(f"{kind} name {name!r} is an LP file keyword")
    if len(set(names)) != len(names):
        dup = next(n for n, count in Counter(names).items() if count > 1)
        raise LipcError(f"{kind} name {dup!r} is used more than once")


def fresh_name(base: str, taken: set[str]) -> str:
    """``base`` or ``base_1``, ``base_2``, ... : the first that no model name already uses."""
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def check_numbers(values: np.ndarray, where: Callable[[int], str],
                  coefficient: bool = False, infinite_ok: bool = False) -> None:
    """Raise NumericError, naming the first offender via ``where(i)``, for values no reader takes
    faithfully: nan, finite |v| >= 1e20 (and ±inf unless ``infinite_ok``), and for coefficients
    0 < |v| < 1e-9."""
    v = np.asarray(values, dtype=np.float64)
    mag = np.abs(v)
    bad = np.isnan(v) | ((mag >= BIG) & ~(infinite_ok & np.isinf(v)))
    if coefficient:
        bad |= (mag > 0) & (mag < TINY)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        x = float(v[i])
        why = ("is not a number" if x != x else
               f"is below {TINY:g} in magnitude (solvers silently drop it)" if mag[i] < TINY else
               f"is at least {BIG:g} in magnitude (solvers read it as infinite)")
        raise NumericError(f"{where(i)} = {x!r} {why}")


def text_table(values: np.ndarray) -> np.ndarray:
    """Shortest round-trip decimal text of each value (``repr``), so that every reader parses back
    the identical double; -0.0 becomes 0 and integral values lose their ``.0``.  A NUL-padded
    bytes array (numpy ``S`` dtype), which writers index and join without a Python object per
    file line (see :func:`joined_lines`).

    This is the hot loop of every writer (one call of ``repr`` per distinct value), so the
    ``.0`` is cut only where numpy says the value is integral rather than tested on every string.
    """
    v = np.asarray(values, dtype=np.float64).ravel() + 0.0      # -0.0 + 0.0 == +0.0
    table = np.array(list(map(float.__repr__, v.tolist())), dtype="S")
    integral = np.flatnonzero((v == np.rint(v)) & (np.abs(v) < 1e16))
    if integral.size:                                # repr switches to 1e+16 form at 1e16
        table[integral] = [t[:-2] for t in table[integral].tolist()]
    return table


def texts(values: np.ndarray) -> list[str]:
    """:func:`text_table` as a list of str."""
    return text_table(values).astype(str).tolist()


def joined_lines(*parts: np.ndarray) -> bytes:
    """Line k is ``parts[0][k] + parts[1][k] + ... + newline``, for NUL-padded bytes arrays of
    equal length: one copy into a byte matrix and one C-level strip of the padding (file text
    never contains NUL), instead of a Python string operation per line."""
    n = len(parts[0])
    matrix = [np.ascontiguousarray(p).view(np.uint8).reshape(n, p.dtype.itemsize) for p in parts]
    matrix.append(np.full((n, 1), ord("\n"), np.uint8))
    return np.hstack(matrix).tobytes().replace(b"\0", b"")


def finite_texts(values: np.ndarray) -> list[str]:
    """:func:`texts` for bounds and sides; infinite ones come out as ``0`` because each writer
    spells infinity its own way (MI/PL/FR, -inf/free) and never prints these."""
    return texts(np.where(np.isfinite(values), values, 0.0))


def row_kinds(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One letter per row: E (lo == hi), L (only hi finite), G (only lo finite), R (range)."""
    kinds = np.full(lo.shape, "R", dtype="<U1")
    kinds[np.isinf(lo)] = "L"
    kinds[np.isinf(hi)] = "G"
    kinds[lo == hi] = "E"
    return kinds


@dataclass
class Canon:
    """A validated minimisation ready to print.

    ``cols`` may end with the fixed column carrying the objective constant.  Matrix entries
    ``(ent_row, ent_col)`` include the (negated) objective as row 0, constraint ``i`` as row
    ``i + 1``; they are merged, free of zeros except one ``0`` objective entry for each column that
    has no entry at all, and sorted by the major axis requested from :func:`canonical`.  Entry
    ``k`` has the ``ent_code[k]``-th smallest distinct value, whose magnitude reads
    ``magnitudes[ent_code[k]]`` (bytes); the first ``n_negative`` distinct values are negative.  Each
    distinct value is formatted once, which halves the work for LipMIP models, where every weight
    appears in the forward and in the backward pass.
    """

    name: str
    header: list[str]           # comment lines (without the comment marker)
    obj_row: str
    cols: list[str]
    rows: list[str]
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    binary: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    ent_row: np.ndarray
    ent_col: np.ndarray
    ent_code: np.ndarray
    magnitudes: np.ndarray
    n_negative: int

    def vocabulary(self, minus: bytes, plus: bytes) -> np.ndarray:
        """Text of every distinct value, magnitude prefixed by ``minus`` or ``plus``: ``(b"-", b"")``
        gives plain numbers, ``(b"- ", b"+ ")`` LP terms.  A bytes array, to index by codes."""
        k = self.n_negative
        return np.concatenate((np.char.add(minus, self.magnitudes[:k]),
                               np.char.add(plus, self.magnitudes[k:])))


def canonical(mip: FlatMIP, major: str) -> Canon:
    """Validate ``mip`` and restate it as a :class:`Canon` with entries sorted by ``major``
    (``"col"`` for MPS, ``"row"`` for LP)."""
    cols, rows = list(mip.col_names), list(mip.row_names)
    check_names(cols, "column")
    check_names(rows, "row")
    lb, ub = _bounds(mip, cols)
    row_lo, row_hi = _sides(mip, rows)
    obj = -np.asarray(mip.obj, dtype=np.float64)
    integer = np.asarray(mip.integer, dtype=bool)
    name = _model_name(mip.name)
    header = [f"lipc model {name}: the original problem MAXIMISES; this file MINIMISES the",
              "negated objective, so negate the optimal value a solver reports."]
    const = float(mip.obj_const)
    check_numbers(np.array([const]), lambda i: "objective constant")
    if const != 0.0 or not cols:            # a fully folded model is just its constant
        one = fresh_name("ONE", set(cols))
        header.append(f"The objective constant {const!r} is the cost of column {one} fixed at 1.")
        cols.append(one)
        lb, ub = np.append(lb, 1.0), np.append(ub, 1.0)
        obj, integer = np.append(obj, -const), np.append(integer, False)
    obj_row = fresh_name("obj", set(rows) | set(cols))
    binary = integer & (lb == 0) & (ub == 1)
    return Canon(name, header, obj_row, cols, rows, lb, ub, integer, binary, row_lo, row_hi,
                 *_entries(mip, obj, cols, rows, major))


def _entries(mip: FlatMIP, obj: np.ndarray, cols: list[str], rows: list[str],
             major: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Objective (row 0) and matrix entries, merged, validated, sorted by ``major``, and coded
    by distinct value: (rows, columns, codes, magnitude texts, number of negative values)."""
    n_rows, n_cols = len(rows) + 1, len(cols)
    r = np.concatenate((np.zeros(n_cols, np.int64),
                        np.repeat(np.arange(1, n_rows), np.diff(mip.indptr))))
    c = np.concatenate((np.arange(n_cols), np.asarray(mip.indices, np.int64)))
    v = np.concatenate((obj, np.asarray(mip.data, np.float64)))
    r, c, v = _merge(r, c, v, n_rows, n_cols, major)
    check_numbers(v, lambda k: (
        f"objective coefficient of column {cols[c[k]]!r}" if r[k] == 0 else
        f"coefficient of column {cols[c[k]]!r} in row {rows[r[k] - 1]!r}"), coefficient=True)
    distinct, code = np.unique(v, return_inverse=True)
    return r, c, code.ravel(), text_table(np.abs(distinct)), int(np.searchsorted(distinct, 0.0))


def _model_name(name: str) -> str:
    """The model name is cosmetic, so make it portable instead of refusing it."""
    return re.sub(r"[^A-Za-z0-9_]", "_", str(name))[:MAX_NAME] or "lipc"


def _bounds(mip: FlatMIP, cols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Column bounds, refusing nan, huge finite values, lb = +inf, ub = -inf and lb > ub."""
    lb = np.asarray(mip.lb, dtype=np.float64)
    ub = np.asarray(mip.ub, dtype=np.float64)
    check_numbers(lb, lambda j: f"lower bound of column {cols[j]!r}", infinite_ok=True)
    check_numbers(ub, lambda j: f"upper bound of column {cols[j]!r}", infinite_ok=True)
    bad = np.flatnonzero((lb > ub) | (lb == np.inf) | (ub == -np.inf))
    if bad.size:
        j = int(bad[0])
        raise NumericError(f"column {cols[j]!r} has empty bounds [{lb[j]!r}, {ub[j]!r}]")
    return lb, ub


def _sides(mip: FlatMIP, rows: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Row sides, refusing what bounds refuse and rows with no finite side."""
    lo = np.asarray(mip.row_lo, dtype=np.float64)
    hi = np.asarray(mip.row_hi, dtype=np.float64)
    check_numbers(lo, lambda i: f"lower side of row {rows[i]!r}", infinite_ok=True)
    check_numbers(hi, lambda i: f"upper side of row {rows[i]!r}", infinite_ok=True)
    bad = np.flatnonzero((lo > hi) | (lo == np.inf) | (hi == -np.inf)
                         | (np.isinf(lo) & np.isinf(hi)))
    if bad.size:
        i = int(bad[0])
        raise NumericError(f"row {rows[i]!r} has sides [{lo[i]!r}, {hi[i]!r}]: it must have a "
                           "finite side and lower <= upper")
    return lo, hi


def _merge(r: np.ndarray, c: np.ndarray, v: np.ndarray, n_rows: int, n_cols: int,
           major: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort entries by (major, minor), sum duplicates, drop zeros, and give each column that is
    left without any entry a ``0`` objective entry (CBC and GLPK reject columns missing from
    COLUMNS)."""
    key = c * n_rows + r if major == "col" else r * n_cols + c
    if key.size > 1 and not (key[1:] > key[:-1]).all():
        order = np.argsort(key, kind="stable")
        key, v = key[order], v[order]
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        if starts.size < key.size:
            key, v = key[starts], np.add.reduceat(v, starts)
    keep = v != 0
    key, v = key[keep], v[keep]
    col_of = key // n_rows if major == "col" else key % n_cols
    empty = np.flatnonzero(np.bincount(col_of, minlength=n_cols) == 0)
    if empty.size:
        new = empty * n_rows if major == "col" else empty
        at = np.searchsorted(key, new)
        key, v = np.insert(key, at, new), np.insert(v, at, 0.0)
    if major == "col":
        return key % n_rows, key // n_rows, v
    return key // n_cols, key % n_cols, v
