"""Free MPS writer (portable profile of notes/mip-file-formats.md §6).

Fields start at the fixed-MPS columns 2/5/15/25 whenever names fit in 8 characters (CBC 2.10.8
misreads compact free MPS), with one matrix entry per line.  No OBJSENSE section: the file
minimises the negated objective (GLPK rejects OBJSENSE, CBC 2.10.8 ignores it).  Every column gets
explicit bounds on both sides, because readers disagree on the defaults of integer columns.
"""
from __future__ import annotations

from math import inf
from typing import BinaryIO, Iterator

import numpy as np

from lipc.core.mip import FlatMIP

from .canon import (Canon, canonical, check_numbers, finite_texts, joined_lines, row_kinds,
                    texts)

BATCH = 1 << 17     # matrix entries per chunk of COLUMNS text: bounds memory


def write_mps(mip: FlatMIP, fh: BinaryIO) -> None:
    """Write ``mip`` as free MPS text to the binary stream ``fh``."""
    fh.writelines(chunk.encode("ascii") for chunk in mps_chunks(mip))


def mps_chunks(mip: FlatMIP) -> Iterator[str]:
    """The MPS file as consecutive pieces of text (validation happens before the first piece)."""
    c = canonical(mip, "col")
    kinds, rhs, ranges = _row_types(c)
    yield "".join(f"* {line}\n" for line in c.header) + f"NAME          {c.name}\n"
    yield _rows(c, kinds)
    yield from _columns(c)
    yield _rhs_ranges(c, rhs, ranges)
    yield _bounds(c)
    yield "ENDATA\n"


def _card(f1: str, f2: str, f3: str = "", f4: str = "") -> str:
    """One data line with its fields at the fixed-MPS start columns 2, 5, 15 and 25."""
    return f" {f1:<2} {f2:<8}  {f3:<8}  {f4}".rstrip() + "\n"


def _row_types(c: Canon) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row letters, right-hand sides and RANGES values (nan where there is none).

    A range row is written as G with rhs lo and range hi - lo, or as L with rhs hi when only that
    way the reader's ``rhs ± range`` gives back the other side bit for bit.
    """
    lo, hi = c.row_lo, c.row_hi
    kinds = row_kinds(lo, hi)
    ranged = np.flatnonzero(kinds == "R")
    width = np.full(lo.shape, np.nan)
    width[ranged] = hi[ranged] - lo[ranged]
    check_numbers(width[ranged], lambda i: f"range of row {c.rows[ranged[i]]!r}")
    kinds[ranged] = "G"
    kinds[ranged[(lo[ranged] + width[ranged] != hi[ranged])
                 & (hi[ranged] - width[ranged] == lo[ranged])]] = "L"
    return kinds, np.where(kinds == "L", hi, lo), width


def _rows(c: Canon, kinds: np.ndarray) -> str:
    """ROWS: the single N row (the objective), then one E/L/G row per constraint."""
    return "ROWS\n" + _card("N", c.obj_row) + "".join(
        _card(k, name) for k, name in zip(kinds.tolist(), c.rows))


def _columns(c: Canon) -> Iterator[str]:
    """COLUMNS, one entry per line; runs of integer columns are bracketed by MARKER lines."""
    yield "COLUMNS\n"
    col_pre = np.array([f"    {name:<8}  " for name in c.cols], dtype="S")
    row_pre = np.array([f"{name:<8}  " for name in [c.obj_row] + c.rows], dtype="S")
    vocab = c.vocabulary(b"-", b"")
    start = np.searchsorted(c.ent_col, np.arange(len(c.cols) + 1))
    flips = np.flatnonzero(np.diff(c.integer.astype(np.int8))) + 1
    edges = [0, *flips.tolist(), len(c.cols)]
    for j0, j1 in zip(edges[:-1], edges[1:]):
        marked = bool(c.integer[j0])
        if marked:
            yield _card("", "MARKER", "'MARKER'", "'INTORG'")
        for a in range(int(start[j0]), int(start[j1]), BATCH):
            e = slice(a, min(a + BATCH, int(start[j1])))
            yield joined_lines(col_pre[c.ent_col[e]], row_pre[c.ent_row[e]],
                               vocab[c.ent_code[e]]).decode("ascii")
        if marked:
            yield _card("", "MARKER", "'MARKER'", "'INTEND'")


def _rhs_ranges(c: Canon, rhs: np.ndarray, ranges: np.ndarray) -> str:
    """RHS (nonzero values only) and RANGES, each under a single set name."""
    out = ["RHS\n"]
    nz = np.flatnonzero(rhs != 0)
    out += [_card("", "RHS", c.rows[i], t) for i, t in zip(nz.tolist(), texts(rhs[nz]))]
    rng = np.flatnonzero(~np.isnan(ranges))
    if rng.size:
        out.append("RANGES\n")
        out += [_card("", "RNG", c.rows[i], t) for i, t in zip(rng.tolist(), texts(ranges[rng]))]
    return "".join(out)


def _bounds(c: Canon) -> str:
    """BOUNDS for every column, both sides explicit: FX, FR or BV alone, else LO/MI then UP/PL.

    Relying on defaults is not portable: marker integers default to [0, 1] in most readers but
    [0, inf) in lp_solve, and a lone negative UP makes CBC drop the lower bound to -inf.
    """
    lo, up = finite_texts(c.lb), finite_texts(c.ub)
    out = ["BOUNDS\n"]
    for j, (name, l, u, b) in enumerate(zip(c.cols, c.lb.tolist(), c.ub.tolist(),
                                            c.binary.tolist())):
        if l == u:
            out.append(_card("FX", "BND", name, lo[j]))
        elif l == -inf and u == inf:
            out.append(_card("FR", "BND", name))
        elif b:
            out.append(_card("BV", "BND", name))
        else:
            out.append(_card("MI", "BND", name) if l == -inf else _card("LO", "BND", name, lo[j]))
            out.append(_card("PL", "BND", name) if u == inf else _card("UP", "BND", name, up[j]))
    return "".join(out)
