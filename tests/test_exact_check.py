"""lipc.studies.bench.exact_check: the exact (rational) MPS solution checker behind ``=opt=`` values."""
import gzip
import math
from fractions import Fraction

import numpy as np
import pytest

from lipc.studies.bench.exact_check import check_file, check_solution, read_mps
from lipc.errors import LipcError

# Every section, bound kind, RANGES sign rule, both marker kinds, a second N row and a second
# RHS set.  Sides by hand: lim x+b <= 4, low x+k >= 1, eq b+n in [3, 5], eqneg y in [0.5, 2],
# rl z in [3, 5], rg x-y in [-1, 3].  Bounds: x [1,4], b binary, n int [1,3], k int [0,inf),
# y free (MI+PL), z free (FR), f fixed 2.5, w (-inf,-3] (negative UP alone), v [-2,-1], u [0,inf).
ALL = """* a comment line
NAME          TESTALL
OBJSENSE
    MAX
ROWS
 N  obj
 N  other
 L  lim
 G  low
 E  eq
 E  eqneg
 L  rl
 G  rg
COLUMNS
    x  obj  1  lim  1
    x  other  5
    x  low  1  rg  1
    MARKER  'MARKER'  'INTORG'
    b  obj  2  lim  1
    b  eq  1
    n  obj  1  eq  1
    k  obj  1  low  1
    MARKER  'MARKER'  'INTEND'
    y  obj  -1  eqneg  1
    y  rg  -1
    z  obj  3  rl  1
    f  obj  1
    w  obj  1
    v  obj  1
    u  obj  0.5
RHS
    RHS  obj  -10
    RHS  lim  4  low  1
    RHS  eq  3  eqneg  2
    RHS  rl  5  rg  -1
    RHS  other  7
    OTHER  lim  100
RANGES
    RNG  eq  2  eqneg  -1.5
    RNG  rl  -2
    RNG  rg  4
BOUNDS
 UP BND x 4
 LO BND x 1
 BV BND b
 LI BND n 1
 UI BND n 3
 MI BND y
 PL BND y
 FR BND z
 FX BND f 2.5
 UP BND w -3
 LO BND v -2
 UP BND v -1
 UP OTHER u 1
ENDATA
"""
GOOD = dict(x=2, b=1, n=3, k=0, y=1.5, z=4, w=-3, v=-1.5, u=0.25)   # f left out: fixed at 2.5
# 10 + 2 + 2*1 + 3 + 0 - 1.5 + 3*4 + 2.5 - 3 - 1.5 + 0.5*0.25
GOOD_OBJ = Fraction(205, 8)


def _write(tmp_path, text, name="m.mps"):
    p = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    return p


def test_reader_sections_bounds_ranges_markers(tmp_path):
    m = read_mps(_write(tmp_path, ALL))
    assert (m.name, m.sense, m.obj_name, m.obj_const) == ("TESTALL", "max", "obj", 10.0)
    assert m.row_names == ["lim", "low", "eq", "eqneg", "rl", "rg"]
    assert m.col_names == list("xbnkyzfwvu") and m.nnz == 10
    assert m.integer == [False, True, True, True, False, False, False, False, False, False]
    inf = math.inf
    assert list(zip(m.lb, m.ub)) == [(1, 4), (0, 1), (1, 3), (0, inf), (-inf, inf), (-inf, inf),
                                     (2.5, 2.5), (-inf, -3), (-2, -1), (0, inf)]
    sides = [m.sides(i) for i in range(m.n_rows)]
    assert sides == [(None, 4), (1, None), (3, 5), (Fraction(1, 2), 2), (3, 5), (-1, 3)]
    assert m.obj == {0: 1, 1: 2, 2: 1, 3: 1, 4: -1, 5: 3, 6: 1, 7: 1, 8: 1, 9: 0.5}


def test_hand_solution_objective_exact(tmp_path):
    r = check_file(_write(tmp_path, ALL), GOOD)
    assert r.feasible and r.max_violation == 0 and r.worst == ""
    assert r.objective_exact == GOOD_OBJ and r.objective == 25.625 and r.sense == "max"


def test_gzip_reads_the_same(tmp_path):
    a, b = read_mps(_write(tmp_path, ALL)), read_mps(_write(tmp_path, ALL, "m.mps.gz"))
    assert a.row_coefs == b.row_coefs and a.obj == b.obj and (a.lb, a.ub) == (b.lb, b.ub)


@pytest.mark.parametrize("change, worst, violation", [
    (dict(w=-2.9), "bound w", (Fraction(-2.9) + 3) / 3),
    (dict(v=-2.5), "bound v", Fraction(1, 4)),
    (dict(f=2.25), "bound f", Fraction(1, 10)),
    (dict(n=4), "bound n", Fraction(1, 3)),
    (dict(k=0.5), "integrality k", Fraction(1, 2)),
    (dict(b=0.5), "integrality b", Fraction(1, 2)),          # a fractional binary
    (dict(n=1), "row eq", Fraction(1, 3)),
    (dict(y=2.25), "row eqneg", Fraction(1, 8)),
    (dict(z=5.5), "row rl", Fraction(1, 10)),
    (dict(z=2.5), "row rl", Fraction(1, 6)),
    (dict(x=3.25, y=1.75), "row lim", Fraction(1, 16)),
    (dict(x=1, k=-0.0, y=1.5, z=4), None, 0),               # row low at its side, rg inside
])
def test_each_violation_kind(tmp_path, change, worst, violation):
    r = check_file(_write(tmp_path, ALL), {**GOOD, **change})
    if worst is None:
        assert r.feasible and r.worst == ""
        return
    assert not r.feasible and r.worst == worst
    assert r.max_violation == pytest.approx(float(violation), rel=1e-12)


def test_negative_up_alone_frees_the_lower_bound(tmp_path):
    r = check_file(_write(tmp_path, ALL), {**GOOD, "w": -1e9})
    assert r.feasible and r.objective_exact == GOOD_OBJ - Fraction(1e9) + 3


def test_row_tolerance_relative_to_side(tmp_path):
    # lim: x + b <= 4, violation relative to max(1, |4|)
    p = _write(tmp_path, ALL)
    for eps, feasible in [(1e-6, False), (1e-12, True)]:
        r = check_file(p, {**GOOD, "x": 3 + eps})
        assert r.feasible is feasible and r.worst == "row lim"     # named even within tol
        assert r.max_violation == pytest.approx(float(Fraction(3 + eps) - 3) / 4, rel=1e-12)
    big = "NAME b\nROWS\n N o\n L r\nCOLUMNS\n    x  r  1\nRHS\n    RHS  r  1e6\nENDATA\n"
    assert check_file(_write(tmp_path, big), {"x": 1e6 + 1e-4}).feasible      # 1e-10 relative
    assert not check_file(_write(tmp_path, big), {"x": 1e6 + 1e-2}).feasible


EXACT = """NAME exact
ROWS
 N  obj
 L  le
 G  ge
COLUMNS
    a  obj  1e16  le  1e16
    a  ge  1e16
    b  obj  1  le  1
    b  ge  1
    c  obj  -1e16  le  -1e16
    c  ge  -1e16
RHS
    RHS  le  0.5  ge  1
ENDATA
"""


def test_exact_arithmetic_where_floats_lose_the_sign(tmp_path):
    assert 1e16 * 1.0 + 1.0 - 1e16 == 0.0                 # what float summation gives
    p = _write(tmp_path, EXACT)
    r = check_file(p, {"a": 1, "b": 1, "c": 1})
    assert r.objective_exact == 1 and r.sense == "min"
    assert not r.feasible and r.worst == "row le" and r.max_violation == 0.5
    # the ge row (activity exactly 1) is satisfied although floats would give 0 < 1
    assert check_file(p, {"a": 1, "b": 1.0, "c": 1}, tol=0.5).feasible


@pytest.mark.parametrize("head", ["OBJSENSE MAX\n", "OBJSENSE\n    MAXIMIZE\n", "OBJSENSE\n  min\n",
                                  ""])
def test_objsense_forms(tmp_path, head):
    text = "NAME s\n" + head + "ROWS\n N obj\nCOLUMNS\n    x  obj  2\nRHS\n    obj  -1\nENDATA\n"
    r = check_file(_write(tmp_path, text), {"x": 3})       # RHS without a set name
    assert r.sense == ("max" if "MAX" in head else "min") and r.objective_exact == 7


def test_missing_columns_and_unknown_columns(tmp_path):
    p = _write(tmp_path, ALL)
    r = check_file(p, {})                                   # all zero, f fixed at 2.5
    assert not r.feasible and r.objective_exact == Fraction(25, 2)
    with pytest.raises(LipcError, match="'nope'"):
        check_file(p, {**GOOD, "nope": 1.0})
    with pytest.raises(LipcError, match="nan"):
        check_file(p, {**GOOD, "x": float("nan")})


@pytest.mark.parametrize("bad, line, what", [
    ("    x  obj  abc\n", 6, "not a number"),
    ("    x  nowhere  1\n", 6, "unknown row"),
    ("    x  obj  1  r  inf\n", 6, "not a finite"),
    ("    x  r  1\n    x  r  2\n", 7, "second entry"),
    ("    x  obj  1\nRANGES\n    RNG  obj  1\n", 8, "N row"),
    ("    x  obj  1\nBOUNDS\n XX BND x 1\n", 8, "unknown bound type"),
    ("    x  obj  1\nBOUNDS\n UP BND y 1\n", 8, "unknown column"),
    ("    x  obj  1\nBOUNDS\n UP BND x 1 2\n", 8, "malformed UP"),
    ("    x  obj  1\nSOS\n", 7, "unknown section"),
    ("    MARKER  'MARKER'  'SOSORG'\n", 6, "unknown marker"),
])
def test_malformed_file_names_the_line(tmp_path, bad, line, what):
    text = "NAME bad\nROWS\n N obj\n L r\nCOLUMNS\n" + bad + "ENDATA\n"
    p = _write(tmp_path, text)
    with pytest.raises(LipcError, match=f"m.mps:{line}: .*{what}"):
        read_mps(p)


def test_truncated_file_is_an_error(tmp_path):
    p = _write(tmp_path, ALL.replace("ENDATA\n", ""), "t.mps.gz")
    with pytest.raises(LipcError, match="ENDATA"):
        read_mps(p)
    raw = (tmp_path / "t.mps.gz").read_bytes()
    (tmp_path / "c.mps.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(LipcError, match="c.mps.gz"):
        read_mps(tmp_path / "c.mps.gz")


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """A real lipc instance written as .mps.gz and solved by CBC from the in-memory model."""
    import lipc
    import lipc.api
    from lipc.studies.bench.manifest import random_onnx_bytes
    from lipc.solvers import SolveOptions, installed, solve_mip
    if "cbc" not in installed():
        pytest.skip("CBC not installed")
    tmp = tmp_path_factory.mktemp("exact")
    (tmp / "n.onnx").write_bytes(random_onnx_bytes("random:3-8-8-2:3"))
    path = tmp / "i.mps.gz"
    _, low = lipc.api.compile(lipc.load(str(tmp / "n.onnx")), "box:0:1", output="0",
                              input_norm="linf", out=path)
    out = solve_mip(low.mip, SolveOptions(solver="cbc", retry=False))
    assert out.status == "optimal"
    return path, low, out, dict(zip(low.mip.col_names, out.x.tolist()))


def test_cbc_solution_checks_exactly(solved):
    path, low, out, values = solved
    r = check_file(path, values)
    assert r.feasible, (r.worst, r.max_violation)
    assert r.sense == "min"                                  # the file minimises the negation
    assert float(r.objective_exact) == pytest.approx(-out.incumbent, rel=1e-9, abs=1e-12)
    assert abs(r.objective - (-out.incumbent)) <= 1e-9 * max(1.0, abs(out.incumbent))


def test_perturbed_cbc_solution_fails(solved):
    path, low, out, values = solved
    m = read_mps(path)
    i = m.row_kind.index("E")
    col = m.col_names[next(iter(m.row_coefs[i]))]
    r = check_solution(m, {**values, col: values[col] + 1e-3})
    assert not r.feasible and r.max_violation > 1e-6


def test_reader_agrees_with_highs(solved):
    highspy = pytest.importorskip("highspy")
    path, low, _, _ = solved
    m = read_mps(path)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) != highspy.HighsStatus.kError
    lp = h.getLp()
    assert h.getNumRow() == m.n_rows == low.mip.n_rows
    assert h.getNumCol() == m.n_cols and list(lp.col_names_) == m.col_names
    assert len(lp.a_matrix_.value_) == m.nnz
    assert np.array_equal(lp.col_lower_, m.lb) and np.array_equal(lp.col_upper_, m.ub)
    sides = [m.sides(i) for i in range(m.n_rows)]
    lo = [-math.inf if a is None else float(a) for a, _ in sides]
    hi = [math.inf if b is None else float(b) for _, b in sides]
    assert np.array_equal(lp.row_lower_, lo) and np.array_equal(lp.row_upper_, hi)
    cost = np.zeros(m.n_cols)
    cost[list(m.obj)] = list(m.obj.values())
    assert np.array_equal(lp.col_cost_, cost) and lp.offset_ == m.obj_const


def test_infinity_convention_and_huge_coefficients(tmp_path):
    text = ("NAME i\nROWS\n N obj\n L r\nCOLUMNS\n    x  obj  1  r  1e25\nRHS\n    RHS  r  1e20\n"
            "BOUNDS\n LO BND x -1e30\n UP BND x 1e20\nENDATA\n")
    m = read_mps(_write(tmp_path, text))
    assert (m.lb, m.ub, m.sides(0), m.row_coefs) == ([-math.inf], [math.inf], (None, None),
                                                       [{0: 1e25}])
    assert check_solution(m, {"x": 1e30}).feasible
