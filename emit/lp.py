"""CPLEX LP writer (portable profile of notes/mip-file-formats.md §6).

Same problem as the MPS writer (minimisation of the negated objective, constant on a fixed column),
spelled in the subset every tested reader agrees on: spaces around every token, lines shorter than
500 characters, a single number on the right-hand side, ranged rows split into ``_lo``/``_hi`` rows
(LP has no portable range syntax), and an explicit bound line for every column.
"""
from __future__ import annotations

from math import inf
from typing import BinaryIO, Callable, Iterator

import numpy as np

from lipc.core.mip import FlatMIP

from .canon import Canon, canonical, finite_texts, fresh_name, row_kinds

LINE = 499          # CPLEX truncates beyond 510 characters, HiGHS writes at most 560
NUMBER = 24         # longest repr of a double, e.g. -1.2345678901234567e-100


def write_lp(mip: FlatMIP, fh: BinaryIO) -> None:
    """Write ``mip`` as CPLEX LP text to the binary stream ``fh``."""
    fh.writelines(chunk.encode("ascii") for chunk in lp_chunks(mip))


def lp_chunks(mip: FlatMIP) -> Iterator[str]:
    """The LP file as consecutive pieces of text (validation happens before the first piece)."""
    c = canonical(mip, "row")
    rows = _constraints(c)
    start = np.searchsorted(c.ent_row, np.arange(len(c.rows) + 2))
    expression = _expression_writer(c, _terms_per_line(c, [name for name, _, _ in rows]))
    yield "".join(f"\\ {line}\n" for line in c.header) + "Minimize\n"
    yield f" {c.obj_row}: {expression(start[0], start[1])}\n"
    yield "Subject To\n"
    for name, i, (op, rhs) in rows:
        yield f" {name}: {expression(start[i + 1], start[i + 2])} {op} {rhs}\n"
    yield _bounds(c)
    yield _integers(c)
    yield "End\n"


def _constraints(c: Canon) -> list[tuple[str, int, tuple[str, str]]]:
    """(name, row index, (operator, rhs text)) of every constraint line; a range row gives two,
    ``<name>_lo`` and ``<name>_hi`` (renamed further if a model row already uses that name)."""
    kinds = row_kinds(c.row_lo, c.row_hi).tolist()
    lo, hi = finite_texts(c.row_lo), finite_texts(c.row_hi)
    taken = set(c.rows) | {c.obj_row}
    out = []
    for i, (name, kind) in enumerate(zip(c.rows, kinds)):
        if kind == "R":
            for suffix, side in (("_lo", (">=", lo[i])), ("_hi", ("<=", hi[i]))):
                split = fresh_name(name + suffix, taken)
                taken.add(split)
                out.append((split, i, side))
        else:
            out.append((name, i, {"E": ("=", lo[i]), "L": ("<=", hi[i]), "G": (">=", lo[i])}[kind]))
    return out


def _terms_per_line(c: Canon, row_names: list[str]) -> int:
    """How many ``+ coef name`` terms fit on a line so that no line reaches 500 characters, even
    the first (carrying `` name: ``) and the last (carrying `` >= rhs``) of a constraint."""
    longest_row = max(map(len, row_names + [c.obj_row]))
    term = 2 + NUMBER + 1 + max(map(len, c.cols)) + 1   # "+ " coef " " name, and a separator
    return max(1, (LINE - (longest_row + 3) - (NUMBER + 4)) // term)


def _expression_writer(c: Canon, per_line: int) -> Callable[[int, int], str]:
    """A function printing entries ``a:b`` as ``+ 2 x - 3 y ...``, wrapped onto continuation
    lines; an empty row comes out as ``0 <first column>`` because LP has no empty expression."""
    signed = np.array(list(map(bytes.decode, c.vocabulary(b"- ", b"+ ").tolist())), dtype=object)
    names = np.array([" " + name for name in c.cols], dtype=object)

    def expression(a: int, b: int) -> str:
        terms = list(map(str.__add__, signed[c.ent_code[a:b]].tolist(),
                         names[c.ent_col[a:b]].tolist()))
        if not terms:
            return f"0 {c.cols[0]}"
        for k in range(per_line - 1, len(terms) - 1, per_line):
            terms[k] += "\n"           # the joining blank then starts the continuation line
        return " ".join(terms)
    return expression


def _bounds(c: Canon) -> str:
    """Bounds for every column: LP readers default to [0, +inf), and a lone ``x <= -1`` keeps the
    lower bound 0 in every tested reader, so both sides are always stated."""
    lo, up = finite_texts(c.lb), finite_texts(c.ub)
    out = ["Bounds\n"]
    for j, (name, l, u) in enumerate(zip(c.cols, c.lb.tolist(), c.ub.tolist())):
        if l == u:
            out.append(f" {name} = {lo[j]}\n")
        elif l == -inf:
            out.append(f" {name} free\n" if u == inf else f" -inf <= {name} <= {up[j]}\n")
        else:
            out.append(f" {name} >= {lo[j]}\n" if u == inf else f" {lo[j]} <= {name} <= {up[j]}\n")
    return "".join(out)


def _integers(c: Canon) -> str:
    """Generals for integer columns, Binaries only for integer columns with bounds exactly [0, 1]
    (some readers reset a listed binary to [0, 1] whatever its Bounds line says)."""
    out = []
    for title, mask in (("Generals", c.integer & ~c.binary), ("Binaries", c.binary)):
        if mask.any():
            out.append(title + "\n" + "".join(f" {c.cols[j]}\n" for j in np.flatnonzero(mask)))
    return "".join(out)
