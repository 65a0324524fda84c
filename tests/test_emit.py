"""Emitters: every reader finds the known optimum, numbers survive bit for bit, refused models
leave no file behind, and output is byte-for-byte deterministic."""
from __future__ import annotations

import dataclasses
import gzip
import itertools
import os
import re

import mip
import numpy as np
import pytest

from lipc.emit import WRITERS, to_text, write
from lipc.errors import LipcError, NumericError
from lipc.core.mip import FlatMIP

inf = np.inf
THIRD, POINT3, BIG = 1 / 3, 0.1 + 0.2, 123456789.123456789
LO, HI = -122897.93670455656, 17.75351858331195     # HI - (HI - LO) == LO, but LO + (HI - LO) != HI


def flat(cols, lb, ub, integer, obj, rows, lo, hi, const=0.0):
    """A FlatMIP from rows given as {column name: coefficient} (or lists of pairs, which may repeat
    a column so that duplicate CSR entries are exercised)."""
    index = {c: j for j, c in enumerate(cols)}
    indptr, indices, data = [0], [], []
    for coefs in rows.values():
        for c, a in (coefs.items() if isinstance(coefs, dict) else coefs):
            indices.append(index[c])
            data.append(a)
        indptr.append(len(indices))
    f = lambda v: np.array(v, dtype=float)
    return FlatMIP(cols, f(lb), f(ub), np.array(integer, bool), f(obj), list(rows),
                   np.array(indptr), np.array(indices, dtype=np.int64), f(data), f(lo), f(hi),
                   obj_const=const, name="test model")


def mixed() -> FlatMIP:
    """notes/mip-file-formats.md §3.1 plus a column without entries: free, negative and general
    integer bounds, an equality, a ranged row, <= and >= rows, an objective constant.  8.25."""
    return flat(["x", "y", "z", "b1", "b2", "w", "unused"],
                [-inf, -10, -3, 0, 0, -inf, -2], [inf, -2.5, 5, 1, 1, -1, 3],
                [0, 0, 1, 1, 1, 0, 0], [1, 2, -3, 4, 1, 0.5, 0],
                {"c1": {"x": 1, "y": 1, "z": -1}, "c2": {"x": 1, "z": -1, "b1": 3},
                 "c3": {"b1": 1, "b2": 1}, "c4": {"y": -1, "w": 1},
                 "c5": {"x": -1, "b2": -2, "w": 1}},
                [-6, -4, -inf, -3, 1], [-6, -1, 1, inf, 3], const=10.5)


def relu() -> FlatMIP:
    """A big-M ReLU y = max(x, 0) on x in [-1, 2], a fixed column, a column only in the objective,
    awkward numbers, duplicate / zero entries in one row, and a range that MPS can only state
    exactly as an L row.  Optimum at x = y = 2, a = 1."""
    return flat(["x", "y", "a", "k", "g"], [-1, 0, 0, BIG, -2], [2, 2, 1, BIG, 3],
                [0, 0, 1, 0, 0], [-0.3, 1, 0, THIRD, -1],
                {"r_ge": [("y", 1.0), ("x", -0.5), ("x", -0.5), ("a", 0.0)],
                 "r_up": {"y": 1, "x": -1, "a": 1}, "r_on": {"y": 1, "a": -2},
                 "r_mix": {"x": THIRD, "y": POINT3}, "r_band": {"x": 1, "y": 1}},
                [0, -inf, -inf, -inf, LO], [inf, 1, 0, BIG, HI], const=POINT3)


MODELS = {"mixed": (mixed, 8.25), "relu": (relu, 1.4 + THIRD * BIG + 2 + POINT3)}


def reference_optimum(m: FlatMIP) -> float:
    """Enumerate the integer columns and solve each LP with scipy: independent of any file."""
    linprog = pytest.importorskip("scipy.optimize").linprog
    A, ints = m.dense(), np.flatnonzero(m.integer)
    up, low = np.isfinite(m.row_hi), np.isfinite(m.row_lo)
    A_ub, b_ub = np.vstack([A[up], -A[low]]), np.concatenate([m.row_hi[up], -m.row_lo[low]])
    best = -inf
    for values in itertools.product(*(range(int(m.lb[j]), int(m.ub[j]) + 1) for j in ints)):
        lb, ub = m.lb.copy(), m.ub.copy()
        lb[ints] = ub[ints] = values
        res = linprog(-m.obj, A_ub=A_ub, b_ub=b_ub, bounds=list(zip(lb, ub)), method="highs")
        if res.status == 0:
            best = max(best, -res.fun + m.obj_const)
    return best


def solve_highs(path) -> float:
    highspy = pytest.importorskip("highspy")
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value


def solve_scip(path) -> float:
    pyscipopt = pytest.importorskip("pyscipopt")
    m = pyscipopt.Model()
    m.hideOutput()
    m.readProblem(str(path))
    m.optimize()
    assert m.getStatus() == "optimal"
    return m.getObjVal()


def solve_cbc(path) -> float:
    m = mip.Model(solver_name=mip.CBC)
    m.verbose = 0
    m.read(str(path))
    m.max_mip_gap, m.max_mip_gap_abs = 1e-12, 1e-9     # the default 1e-4 gap would hide errors
    assert m.optimize() == mip.OptimizationStatus.OPTIMAL
    return m.objective_value


@pytest.mark.parametrize("model", MODELS)
def test_reference_optimum_matches_hand_value(model):
    build, expected = MODELS[model]
    assert reference_optimum(build()) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("solve", [solve_highs, solve_scip, solve_cbc])
@pytest.mark.parametrize("suffix", list(WRITERS))
@pytest.mark.parametrize("model", MODELS)
def test_readers_find_the_optimum(tmp_path, model, suffix, solve):
    build, expected = MODELS[model]
    path = tmp_path / f"m{suffix}"
    write(build(), path)
    # the file minimises the negated objective
    assert -solve(path) == pytest.approx(expected, rel=1e-12, abs=1e-6)


def parse_mps(text: str) -> dict:
    """The numbers of a free MPS file, read back with float(), keyed by what they mean."""
    out = {"N": None, "kind": {}, "a": {}, "rhs": {}, "rng": {}, "bnd": {}, "int": set()}
    section, integer = None, False
    for line in text.splitlines():
        if line.startswith("*"):
            continue
        if not line.startswith(" "):
            section = line.split()[0]
            continue
        t = line.split()
        if section == "ROWS":
            if t[0] == "N":
                out["N"] = t[1]
            out["kind"][t[1]] = t[0]
        elif section == "COLUMNS" and t[1] == "'MARKER'":
            integer = t[2] == "'INTORG'"
        elif section == "COLUMNS":
            assert (t[0], t[1]) not in out["a"], "one entry per (column, row)"
            out["a"][t[0], t[1]] = float(t[2])
            if integer:
                out["int"].add(t[0])
        elif section in ("RHS", "RANGES"):
            out["rhs" if section == "RHS" else "rng"][t[1]] = float(t[2])
        elif section == "BOUNDS":
            out["bnd"].setdefault(t[2], []).append((t[0], float(t[3]) if len(t) > 3 else None))
    return out


def bounds_of(cards) -> tuple[float, float]:
    """(lb, ub) from one column's BOUNDS cards, written without relying on defaults."""
    kinds = dict(cards)
    if "FX" in kinds or "FR" in kinds or "BV" in kinds:
        assert len(cards) == 1, "FX, FR and BV stand alone"
        return {"FX": (kinds.get("FX"),) * 2, "FR": (-inf, inf), "BV": (0.0, 1.0)}[cards[0][0]]
    assert [k for k, _ in cards] in (["LO", "UP"], ["LO", "PL"], ["MI", "UP"], ["MI", "PL"])
    return kinds.get("LO", -inf), kinds.get("UP", inf)


@pytest.mark.parametrize("model", MODELS)
def test_mps_numbers_round_trip_exactly(model):
    m = MODELS[model][0]()
    p = parse_mps(to_text(m, ".mps"))
    assert list(p["kind"].values()).count("N") == 1 and p["N"] not in p["rhs"]
    A = m.dense()
    cols = m.col_names + (["ONE"] if m.obj_const else [])
    for j, c in enumerate(m.col_names):
        assert p["a"].get((c, p["N"]), 0.0) == -m.obj[j]
        for i, r in enumerate(m.row_names):
            assert p["a"].get((c, r), 0.0) == A[i, j]        # duplicates merged, zeros dropped
        assert bounds_of(p["bnd"][c]) == (m.lb[j], m.ub[j])
        assert (c in p["int"]) == m.integer[j]
    assert {c for c, _ in p["a"]} == set(cols), "every column appears in COLUMNS"
    if m.obj_const:
        assert p["a"]["ONE", p["N"]] == -m.obj_const and bounds_of(p["bnd"]["ONE"]) == (1, 1)
    for i, r in enumerate(m.row_names):
        kind, rhs, rng = p["kind"][r], p["rhs"].get(r, 0.0), p["rng"].get(r)
        lo, hi = {"E": (rhs, rhs), "L": (-inf, rhs), "G": (rhs, inf)}[kind]
        if rng is not None:
            assert rng > 0
            lo, hi = (rhs, rhs + rng) if kind == "G" else (rhs - rng, rhs)
        assert (lo, hi) == (m.row_lo[i], m.row_hi[i])


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_highs_reads_the_exact_numbers(tmp_path, suffix):
    highspy = pytest.importorskip("highspy")
    m = relu()
    write(m, tmp_path / f"m{suffix}")
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(tmp_path / f"m{suffix}"))
    lp = h.getLp()
    got = {n: (c, lo, up) for n, c, lo, up in
           zip(lp.col_names_, lp.col_cost_, lp.col_lower_, lp.col_upper_)}
    for j, c in enumerate(m.col_names):
        assert got[c] == (-m.obj[j], m.lb[j], m.ub[j])
    assert got["ONE"] == (-POINT3, 1, 1)
    assert set(lp.a_matrix_.value_) >= {THIRD, POINT3}


def test_text_layout():
    mps, lp = to_text(relu(), ".mps"), to_text(relu(), ".lp")
    assert "OBJSENSE" not in mps and "MAXIMISES" in mps.splitlines()[0]
    assert "    x         obj       0.3\n" in mps                       # fields at 5, 15, 25
    assert " LO BND       x         -1\n UP BND       x         2\n" in mps
    assert " FX BND       k         123456789.12345679\n" in mps
    assert "0.30000000000000004" in mps and "0.3333333333333333" in mps
    assert "-0\n" not in mps and "-0 " not in lp
    assert lp.startswith("\\ ") and "\nMinimize\n obj: + 0.3 x - 1 y" in lp
    assert " r_ge: - 1 x + 1 y >= 0\n" in lp and "\nBinaries\n a\nEnd\n" in lp
    assert " k = 123456789.12345679\n" in lp and " -2 <= g <= 3\n" in lp


def test_long_lp_rows_are_wrapped_and_still_read(tmp_path):
    n = 300
    cols = [f"v{j:03d}_" + "q" * 55 for j in range(n)]
    m = flat(cols, [0] * n, [1] * n, [0] * n, [1.0] * n, {"wide": {c: -THIRD for c in cols}},
             [-50.0], [inf])
    write(m, tmp_path / "w.lp")
    text = (tmp_path / "w.lp").read_text()
    lines = text.splitlines()
    assert max(map(len, lines)) < 500 and sum(x.startswith(" - ") for x in lines) > 10
    assert -solve_highs(tmp_path / "w.lp") == pytest.approx(150.0)


def test_fresh_names_avoid_clashes():
    m = flat(["ONE", "obj"], [0, 0], [1, 1], [0, 0], [1, 1],
             {"c": {"ONE": 1}, "c_lo": {"obj": 1}}, [0, 0], [1, inf], const=2.0)
    mps, lp = to_text(m, ".mps"), to_text(m, ".lp")
    assert " N  obj_1\n" in mps and " FX BND       ONE_1     1\n" in mps
    assert " c_lo_1: + 1 ONE >= 0\n c_hi: + 1 ONE <= 1\n c_lo: + 1 obj >= 0\n" in lp


def broken(**change) -> FlatMIP:
    """relu() with some fields replaced; array values are copied first."""
    m = relu()
    for key, edit in change.items():
        value = getattr(m, key).copy() if callable(edit) else edit
        if callable(edit):
            edit(value)
        m = dataclasses.replace(m, **{key: value})
    return m


def _set(i, v):
    return lambda a: a.__setitem__(i, v)


BAD = {
    "nan coefficient": (broken(data=_set(2, np.nan)), NumericError, "in row 'r_ge'"),
    "lb > ub": (broken(lb=_set(0, 5.0)), NumericError, "'x'"),
    "tiny coefficient": (broken(data=_set(5, 1e-12)), NumericError, "below 1e-09"),
    "tiny objective": (broken(obj=_set(1, -1e-12)), NumericError, "objective coefficient"),
    "infinite objective": (broken(obj=_set(1, inf)), NumericError, "'y'"),
    "huge bound": (broken(ub=_set(1, 1e20)), NumericError, "upper bound of column 'y'"),
    "row without finite side": (broken(row_lo=_set(1, -inf), row_hi=_set(1, inf)), NumericError,
                                "'r_up'"),
    "name starting with e": (broken(col_names=["x", "y", "a", "k", "e1"]), LipcError, "'e1'"),
    "name with a dash": (broken(row_names=["r-ge", "r_up", "r_on", "r_mix", "r_band"]), LipcError,
                         "'r-ge'"),
    "nan as a name": (broken(col_names=["x", "y", "a", "k", "NaN"]), LipcError, "keyword"),
    "keyword name": (broken(col_names=["x", "y", "a", "k", "free"]), LipcError, "keyword"),
    "long name": (broken(col_names=["x", "y", "a", "k", "g" * 65]), LipcError, "64"),
    "duplicate name": (broken(col_names=["x", "y", "a", "k", "x"]), LipcError, "more than once"),
}


@pytest.mark.parametrize("suffix", [".mps", ".mps.gz", ".lp"])
@pytest.mark.parametrize("case", BAD)
def test_refused_models_leave_no_file(tmp_path, case, suffix):
    m, error, words = BAD[case]
    with pytest.raises(error, match=re.escape(words)):
        write(m, tmp_path / f"m{suffix}")
    assert os.listdir(tmp_path) == []


def test_unknown_suffix_and_failed_rewrite(tmp_path):
    with pytest.raises(LipcError, match=r"\.mps\.gz"):
        write(relu(), tmp_path / "m.txt")
    with pytest.raises(LipcError, match="cannot write"):
        write(relu(), tmp_path / "missing" / "m.mps")
    with pytest.raises(LipcError):
        to_text(relu(), "xml")
    assert os.listdir(tmp_path) == []
    good = tmp_path / "m.mps"
    write(relu(), good)
    before = good.read_bytes()
    with pytest.raises(NumericError):
        write(BAD["nan coefficient"][0], good)
    assert good.read_bytes() == before and os.listdir(tmp_path) == ["m.mps"]


@pytest.mark.parametrize("suffix", list(WRITERS))
def test_output_is_deterministic(tmp_path, suffix):
    write(mixed(), tmp_path / f"a{suffix}")
    write(mixed(), tmp_path / f"b{suffix}")
    data = (tmp_path / f"a{suffix}").read_bytes()
    assert data == (tmp_path / f"b{suffix}").read_bytes()
    if suffix.endswith(".gz"):
        assert data[3] == 0 and data[4:8] == b"\0\0\0\0"     # no file name, no timestamp
        assert gzip.decompress(data).decode() == to_text(mixed(), suffix[:-3])
