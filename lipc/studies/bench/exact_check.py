"""Independent, exact re-check of a solution against an MPS file (like MIPLIB's ``solchecker``).

A benchmark library publishes ``=opt=`` values that other people will trust, so before one is
written the solver's solution is checked once more, against the model *as the emitted file states
it* (not against lipc's in-memory model, which the writer might have mangled) and in exact rational
arithmetic: every float is a dyadic rational, so ``fractions.Fraction`` evaluates each row activity
and the objective without any rounding, and a sum like ``1e16 + 1 - 1e16`` comes out as 1.

Reader conventions (this module's own, documented because MPS readers disagree):

* free MPS; sections start in column 1, data lines are indented; ``*`` lines are comments.
* the first N row is the objective, later N rows (and their entries) are ignored; an RHS on the
  objective row ``obj`` makes the objective constant ``-rhs`` (as CPLEX and HiGHS read it).
* RANGES follow the MPS standard: G ``[rhs, rhs+|R|]``, L ``[rhs-|R|, rhs]``, E ``[rhs, rhs+R]``
  for R > 0 and ``[rhs+R, rhs]`` for R < 0.  Sides are formed exactly (as Fractions).
* columns default to ``[0, +inf)``, *integer (marker) columns too* (some readers use [0, 1]);
  a negative UP/UI on a column whose lower bound is still the default 0 sets it to -inf (as CPLEX
  and HiGHS do).  BV makes a column binary, LI/UI integer.
* a bound, rhs or range of magnitude >= 1e20 means infinity (as HiGHS and SCIP read it).
* only the first set name of RHS, RANGES and BOUNDS is used; other sets are ignored (MPS standard).
* a repeated matrix entry, RHS or RANGES value is an error: readers disagree on repeats.

Tolerance semantics of :func:`check_solution`: a row violation is the distance of the activity
beyond the violated side divided by ``max(1, |side|)``; a bound violation likewise relative to
``max(1, |bound|)``; an integrality violation is the absolute distance to the nearest integer.
The solution is feasible when every violation is at most ``tol``, compared exactly.
"""
from __future__ import annotations

import gzip
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from lipc.errors import LipcError

INFINITY = 1e20                 # |bound|, |rhs|, |range| at least this: infinite
_SECTIONS = {"NAME", "ROWS", "COLUMNS", "RHS", "RANGES", "BOUNDS", "OBJSENSE", "ENDATA"}
_SENSES = {"MIN": "min", "MINIMIZE": "min", "MINIMISE": "min",
           "MAX": "max", "MAXIMIZE": "max", "MAXIMISE": "max"}


@dataclass
class MpsModel:
    """The model of an MPS file, numbers kept as the floats the file spells (exact at check time).

    ``row_coefs[i]`` maps column index -> coefficient of constraint row ``i``; ``obj`` does the
    same for the objective row.  Bounds are floats with ±inf for none.
    """

    path: str
    name: str = ""
    sense: str = "min"
    obj_name: str | None = None
    obj: dict[int, float] = field(default_factory=dict)
    obj_const: float = 0.0
    col_names: list[str] = field(default_factory=list)
    col_index: dict[str, int] = field(default_factory=dict)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    row_names: list[str] = field(default_factory=list)
    row_index: dict[str, int] = field(default_factory=dict)
    row_kind: list[str] = field(default_factory=list)       # "L", "G" or "E"
    rhs: list[float] = field(default_factory=list)
    ranges: list[float | None] = field(default_factory=list)
    row_coefs: list[dict[int, float]] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.row_names)

    @property
    def n_cols(self) -> int:
        return len(self.col_names)

    @property
    def nnz(self) -> int:
        """Constraint matrix entries (the objective row not counted)."""
        return sum(map(len, self.row_coefs))

    def sides(self, i: int) -> tuple[Fraction | None, Fraction | None]:
        """Exact (lower, upper) side of row ``i``; None is infinite.  Formed in Fractions, so a
        range row means what the file says even where ``rhs + range`` would round in floats."""
        kind, rhs, rng = self.row_kind[i], self.rhs[i], self.ranges[i]
        if math.isinf(rhs):             # an infinite rhs (|rhs| >= 1e20) leaves the row free
            return None, None
        r = Fraction(rhs)
        lo, hi = (r if kind in "GE" else None), (r if kind in "LE" else None)
        if rng is None:
            return lo, hi
        w = None if math.isinf(rng) else abs(Fraction(rng))
        if kind == "G" or (kind == "E" and rng > 0):
            hi = None if w is None else r + w
        elif kind == "L" or (kind == "E" and rng < 0):
            lo = None if w is None else r - w
        return lo, hi


class _Reader:
    """One pass over the lines of a free MPS file, filling an :class:`MpsModel`."""

    def __init__(self, path: str):
        self.m = MpsModel(path=path)
        self.line = 0
        self.section: str | None = None
        self.marker_int = False
        self.objective_rows: set[str] = set()   # N rows: the first is ``m.obj_name``
        self.sets: dict[str, str] = {}          # section -> its first set name
        self.lb_set: list[bool] = []            # lower bound given explicitly (negative-UP rule)
        self.seen_rhs: set[str] = set()
        self.seen_range: set[str] = set()
        self.ended = False

    def fail(self, msg: str) -> LipcError:
        return LipcError(f"{self.m.path}:{self.line}: {msg}")

    def num(self, text: str, coefficient: bool = False) -> float:
        """A number of the file: a coefficient must be finite; a bound, rhs or range of
        magnitude >= INFINITY is infinite."""
        try:
            v = float(text)
        except ValueError:
            raise self.fail(f"{text!r} is not a number") from None
        if v != v or (coefficient and math.isinf(v)):
            raise self.fail(f"{text!r} is not a finite number")
        if coefficient:
            return v
        return -math.inf if v <= -INFINITY else math.inf if v >= INFINITY else v

    def feed(self, raw: str) -> None:
        self.line += 1
        if self.ended or not raw.strip() or raw.startswith("*"):
            return
        tok = raw.split()
        if not raw[0].isspace():
            self.header(tok)
        elif self.section is None:
            raise self.fail("data line before any section")
        else:
            getattr(self, "data_" + self.section.lower())(tok)

    def header(self, tok: list[str]) -> None:
        key = tok[0].upper()
        if key not in _SECTIONS:
            raise self.fail(f"unknown section {tok[0]!r}")
        self.section = key
        if key == "NAME":
            self.m.name = " ".join(tok[1:])
        elif key == "ENDATA":
            self.ended = True
        elif key == "OBJSENSE" and len(tok) > 1:
            self.data_objsense(tok[1:])
        elif len(tok) > 1:
            raise self.fail(f"unexpected text after {key}")

    def data_name(self, tok: list[str]) -> None:
        raise self.fail("data line in the NAME section")

    data_endata = data_name

    def data_objsense(self, tok: list[str]) -> None:
        if len(tok) != 1 or tok[0].upper() not in _SENSES:
            raise self.fail(f"OBJSENSE must be MIN or MAX, not {' '.join(tok)!r}")
        self.m.sense = _SENSES[tok[0].upper()]

    def data_rows(self, tok: list[str]) -> None:
        if len(tok) != 2 or tok[0].upper() not in ("N", "L", "G", "E"):
            raise self.fail("a ROWS line is 'N|L|G|E name'")
        kind, name = tok[0].upper(), tok[1]
        m = self.m
        if name in m.row_index or name in self.objective_rows:
            raise self.fail(f"row {name!r} declared twice")
        if kind == "N":
            self.objective_rows.add(name)
            if m.obj_name is None:
                m.obj_name = name
            return
        m.row_index[name] = len(m.row_names)
        m.row_names.append(name)
        m.row_kind.append(kind)
        m.rhs.append(0.0)
        m.ranges.append(None)
        m.row_coefs.append({})

    def data_columns(self, tok: list[str]) -> None:
        m = self.m
        if len(tok) == 3 and tok[1] == "'MARKER'":
            if tok[2] not in ("'INTORG'", "'INTEND'"):
                raise self.fail(f"unknown marker {tok[2]!r}")
            self.marker_int = tok[2] == "'INTORG'"
            return
        if len(tok) not in (3, 5):
            raise self.fail("a COLUMNS line is 'column row value [row value]'")
        name = tok[0]
        j = m.col_index.get(name)
        if j is None:
            j = m.col_index[name] = len(m.col_names)
            m.col_names.append(name)
            m.lb.append(0.0)
            m.ub.append(math.inf)
            m.integer.append(self.marker_int)
            self.lb_set.append(False)
        for row, text in zip(tok[1::2], tok[2::2]):
            v = self.num(text, coefficient=True)
            if row == m.obj_name:
                coefs = m.obj
            elif row in self.objective_rows:
                continue
            elif row in m.row_index:
                coefs = m.row_coefs[m.row_index[row]]
            else:
                raise self.fail(f"unknown row {row!r}")
            if j in coefs:
                raise self.fail(f"second entry for column {name!r} in row {row!r}")
            coefs[j] = v

    def pairs(self, tok: list[str]) -> list[tuple[str, str]] | None:
        """The (row, value) pairs of an RHS/RANGES line, or None for a set we ignore; the set
        name may be left out (an even number of fields)."""
        if len(tok) not in (2, 3, 4, 5):
            raise self.fail(f"malformed {self.section} line")
        if len(tok) % 2:
            first = self.sets.setdefault(self.section, tok[0])
            if tok[0] != first:
                return None
            tok = tok[1:]
        return list(zip(tok[0::2], tok[1::2]))

    def data_rhs(self, tok: list[str]) -> None:
        m = self.m
        for row, text in self.pairs(tok) or []:
            v = self.num(text)
            if row in self.seen_rhs:
                raise self.fail(f"second RHS for row {row!r}")
            self.seen_rhs.add(row)
            if row == m.obj_name:
                m.obj_const = -v
            elif row in m.row_index:
                m.rhs[m.row_index[row]] = v
            elif row not in self.objective_rows:
                raise self.fail(f"unknown row {row!r}")

    def data_ranges(self, tok: list[str]) -> None:
        m = self.m
        for row, text in self.pairs(tok) or []:
            v = self.num(text)
            if row not in m.row_index:
                raise self.fail(f"RANGES on {'an N' if row in self.objective_rows else 'unknown'}"
                                f" row {row!r}")
            if row in self.seen_range:
                raise self.fail(f"second RANGES value for row {row!r}")
            self.seen_range.add(row)
            m.ranges[m.row_index[row]] = v

    def data_bounds(self, tok: list[str]) -> None:
        m = self.m
        kind = tok[0].upper()
        valued = kind in ("UP", "LO", "FX", "LI", "UI")
        if kind not in ("UP", "LO", "FX", "LI", "UI", "FR", "MI", "PL", "BV"):
            raise self.fail(f"unknown bound type {tok[0]!r}")
        # 'type [set] column value' or 'type [set] column [ignored value]'
        if len(tok) not in ((3, 4) if valued else (2, 3, 4)):
            raise self.fail(f"malformed {kind} bound line")
        n = 1 if len(tok) == 2 + valued else 2              # index of the column
        if n == 2 and self.sets.setdefault("BOUNDS", tok[1]) != tok[1]:
            return
        name = tok[n]
        if name not in m.col_index:
            raise self.fail(f"bound on unknown column {name!r}")
        j = m.col_index[name]
        v = self.num(tok[n + 1]) if valued else 0.0
        if kind in ("LO", "LI"):
            m.lb[j] = v
            self.lb_set[j] = True
        elif kind in ("UP", "UI"):
            m.ub[j] = v
            if v < 0 and m.lb[j] == 0 and not self.lb_set[j]:
                m.lb[j] = -math.inf
        elif kind == "FX":
            m.lb[j] = m.ub[j] = v
            self.lb_set[j] = True
        elif kind == "FR":
            m.lb[j], m.ub[j] = -math.inf, math.inf
            self.lb_set[j] = True
        elif kind == "MI":
            m.lb[j] = -math.inf
            self.lb_set[j] = True
        elif kind == "PL":
            m.ub[j] = math.inf
        else:                                   # BV
            m.lb[j], m.ub[j] = 0.0, 1.0
            self.lb_set[j] = True
        if kind in ("BV", "LI", "UI"):
            m.integer[j] = True


def read_mps(path: str | Path) -> MpsModel:
    """Read a free MPS file, plain or gzip-compressed (``.gz`` suffix); see the module docstring
    for the conventions.  Malformed input raises LipcError naming the file and line."""
    p = str(path)
    r = _Reader(p)
    opener = gzip.open if p.endswith(".gz") else open
    try:
        with opener(p, "rt", encoding="latin-1") as fh:
            for raw in fh:
                r.feed(raw)
    except (OSError, EOFError) as e:       # unreadable, bad or truncated gzip
        raise LipcError(f"{p}:{r.line}: cannot read: {e}") from None
    if not r.ended:
        raise LipcError(f"{p}:{r.line}: no ENDATA (truncated file?)")
    return r.m


@dataclass
class ExactCheck:
    """The verdict on one solution: exact objective and the worst (relative) violation."""

    feasible: bool
    max_violation: float
    worst: str              # "row R", "bound x", "integrality b", or "" when nothing is violated
    objective: float        # nearest float of objective_exact
    objective_exact: Fraction
    sense: str              # "min" or "max", as the file states


def _beyond(v: Fraction, lo: Fraction | None, hi: Fraction | None) -> Fraction:
    """How far ``v`` lies outside [lo, hi], relative to max(1, |violated side|)."""
    if lo is not None and v < lo:
        return (lo - v) / max(1, abs(lo))
    if hi is not None and v > hi:
        return (v - hi) / max(1, abs(hi))
    return Fraction(0)


def _fraction_or_none(v: float) -> Fraction | None:
    return None if math.isinf(v) else Fraction(v)


def solution_values(model: MpsModel, values: dict[str, float]) -> list[float]:
    """One value per column of ``model`` (file order) from ``values`` (column name -> value): a
    column it does not name is 0, or its value when fixed (lb == ub).  LipcError on a name the
    file does not have or a non-finite value."""
    unknown = [name for name in values if name not in model.col_index]
    if unknown:
        raise LipcError(f"{model.path}: the solution names {len(unknown)} column(s) the file does "
                        f"not have, e.g. {', '.join(map(repr, unknown[:3]))}")
    x: list[float] = []
    for j, name in enumerate(model.col_names):
        if name in values:
            v = float(values[name])
            if not math.isfinite(v):
                raise LipcError(f"{model.path}: column {name!r} has the value {v!r}")
            x.append(v)
        else:
            lb = model.lb[j]
            x.append(lb if lb == model.ub[j] and math.isfinite(lb) else 0.0)
    return x


def check_solution(model: MpsModel, values: dict[str, float], tol: float = 1e-9) -> ExactCheck:
    """Check ``values`` (column name -> value) against ``model`` in exact arithmetic.

    A column missing from ``values`` is 0, or its value when fixed (lb == ub): lipc's files carry
    the objective constant on such a column, which the solver's vector does not name.
    """
    x = [Fraction(v) for v in solution_values(model, values)]
    worst, label = Fraction(0), ""

    def note(v: Fraction, what: str) -> None:
        nonlocal worst, label
        if v > worst:
            worst, label = v, what

    for j, name in enumerate(model.col_names):
        note(_beyond(x[j], _fraction_or_none(model.lb[j]), _fraction_or_none(model.ub[j])),
             f"bound {name}")
        if model.integer[j]:
            note(abs(x[j] - round(x[j])), f"integrality {name}")
    for i, coefs in enumerate(model.row_coefs):
        act = sum((Fraction(a) * x[j] for j, a in coefs.items() if x[j]), Fraction(0))
        note(_beyond(act, *model.sides(i)), f"row {model.row_names[i]}")
    obj = Fraction(model.obj_const) + sum(
        (Fraction(c) * x[j] for j, c in model.obj.items() if x[j]), Fraction(0))
    return ExactCheck(worst <= Fraction(tol), float(worst), label, float(obj), obj, model.sense)


def check_file(path: str | Path, values: dict[str, float], tol: float = 1e-9) -> ExactCheck:
    """:func:`check_solution` of ``values`` against the MPS file at ``path``."""
    return check_solution(read_mps(path), values, tol)
