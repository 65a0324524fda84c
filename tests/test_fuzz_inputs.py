"""Fuzzers with a fixed seed and a bounded budget (hypothesis, derandomized): VNN-LIB files from a
grammar (valid files parse to the intended region; corrupted ones raise LipcError and nothing
else), DSL programs (valid ones agree with the numpy reference evaluator through the compiled IR;
corrupted ones raise LipcError or still agree), and byte-level mutation of the shipped .vnnlib,
.lipc and .npy examples.  About 25 s in all."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from test_dsl_semantics import assert_ir_matches_reference, expressions

from lipc.util.arrays import load_array
from lipc.frontends.dsl import build
from lipc.errors import LipcError
from lipc.question.vnnlib import read_vnnlib

FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

_num = st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 3))


def _term(i: int, coef: float, form: int) -> str:
    return [f"(* {float(coef)!r} X_{i})", f"(* X_{i} {float(coef)!r})", f"(- (* {float(-coef)!r} X_{i}))"][form]


@st.composite
def vnnlib_files(draw):
    """(text, dim, lo, hi, A, b): a valid file and the region it states."""
    d = draw(st.integers(1, 4))
    lo = np.array([draw(_num) for _ in range(d)])
    hi = lo + np.array([draw(st.floats(0.01, 10)) for _ in range(d)]).round(3) + 0.01
    lines = [f"(declare-const X_{i} Real)" for i in draw(st.permutations(range(d)))]
    lines.append("(declare-const Y_0 Real)")
    atoms = []
    for i in range(d):
        atoms.append(draw(st.sampled_from([f"(<= X_{i} {float(hi[i])!r})", f"(>= {float(hi[i])!r} X_{i})"])))
        atoms.append(draw(st.sampled_from([f"(>= X_{i} {float(lo[i])!r})", f"(<= {float(lo[i])!r} X_{i})"])))
    rows, rhs = [], []
    if d > 1:
        for _ in range(draw(st.integers(0, 2))):
            a = np.array([draw(st.sampled_from([-2.0, -1.0, 0.5, 1.0, 3.0])) for _ in range(d)])
            c = float(a @ ((lo + hi) / 2)) + 1.0            # the centre is strictly inside
            terms = " ".join(_term(i, a[i], draw(st.integers(0, 2))) for i in range(d))
            atoms.append(f"(<= (+ {terms}) {c!r})")
            rows.append(a)
            rhs.append(c)
    atoms = draw(st.permutations(atoms))
    style = draw(st.integers(0, 2))
    if style == 0:
        lines += [f"(assert {a})" for a in atoms]
    elif style == 1:
        lines.append(f"(assert (and {' '.join(atoms)}))")
    else:
        lines.append(f"(assert (or (and {' '.join(atoms)})))")
    lines.append("(assert (or (>= Y_0 1) (<= Y_0 -1)))     ; the property, not the region")
    return "\n".join(lines) + "\n", d, lo, hi, rows, rhs


@settings(FUZZ, max_examples=60)
@given(case=vnnlib_files())
def test_valid_vnnlib_parses_to_the_intended_region(case, tmp_path_factory):
    text, d, lo, hi, rows, rhs = case
    p = tmp_path_factory.mktemp("v") / "p.vnnlib"
    p.write_text(text)
    got_lo, got_hi, A, b = read_vnnlib(p, d)
    np.testing.assert_array_equal(got_lo, lo)
    np.testing.assert_array_equal(got_hi, hi)
    if rows:
        def ordered(M):                       # the atoms were shuffled: compare as sets of rows
            return M[np.lexsort(M.T[::-1])]
        np.testing.assert_allclose(ordered(np.column_stack([A, b])),
                                   ordered(np.column_stack([np.array(rows), rhs])), rtol=1e-15)
    else:
        assert A is None and b is None


_JUNK = ["(", ")", "X_-1", "X_9", "X_abc", "nan", "inf", "1e999", "(assert)", "(* 0 X_0)",
         "(or", "Y_0", "\u00e9", "-", "0", "(* X_0 X_0)", ";", "\n", "(declare-const X_0 Real)"]


@st.composite
def corrupted(draw, texts):
    """A valid text with a few tokens inserted, deleted or replaced."""
    text = draw(texts)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 6)))
        text = text[:i] + draw(st.sampled_from(_JUNK + [""])) + text[j:]
    return text


@settings(FUZZ, max_examples=150)
@given(text=corrupted(vnnlib_files().map(lambda c: c[0])), d=st.integers(1, 4))
def test_corrupted_vnnlib_is_a_lipc_error_or_a_region(text, d, tmp_path_factory):
    p = tmp_path_factory.mktemp("v") / "p.vnnlib"
    p.write_text(text)
    try:
        lo, hi, A, b = read_vnnlib(p, d)
    except LipcError:
        return
    assert lo.shape == hi.shape == (d,)
    assert not np.any(np.isnan(lo)) and not np.any(np.isnan(hi))
    if A is not None:
        assert np.all(np.isfinite(A)) and np.all(np.isfinite(b)) and np.all(np.any(A, axis=1))


_HEAD = "input x[3]\nW = [[1, -1, 0.5], [0.25, 2, -1], [0, -0.5, 1]]\n"
_DSL_JUNK = ["1e400", "[::0]", '"\\xzz"', "x[1000000000]", "(", ")", "[", "]", "@", "/ 0",
             "* 1e200 * 1e200", "nan", "x[9]", "relu(", "max()", "\n", "#", ",", "1e-400"]


@settings(FUZZ, max_examples=60)
@given(expr=expressions(depth=3), data=st.data())
def test_corrupted_dsl_programs_error_or_match_the_reference(expr, data):
    text = _HEAD + f"y = {expr}\noutput concat(y, sum(y))\n"
    for _ in range(data.draw(st.integers(0, 2))):
        i = data.draw(st.integers(len(_HEAD), len(text)))
        j = min(len(text), i + data.draw(st.integers(0, 4)))
        text = text[:i] + data.draw(st.sampled_from(_DSL_JUNK + [""])) + text[j:]
    try:
        prog = build(text)
    except LipcError:
        return
    assert_ir_matches_reference(prog.network)


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """Flip, delete, insert or truncate a few bytes."""
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        op, i = int(rng.integers(4)), int(rng.integers(max(len(b), 1)))
        if op == 0 and b:
            b[i] ^= 1 << int(rng.integers(8))
        elif op == 1 and b:
            del b[i:i + int(rng.integers(1, 8))]
        elif op == 2:
            b[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 8)), dtype=np.uint8))
        else:
            del b[i:]
    return bytes(b)


@pytest.mark.parametrize("name", ["classifier_region.vnnlib", "toy2d.lipc", "x0_4.npy",
                                  "triangle.npz"])
def test_byte_mutations_of_shipped_examples(name, examples, tmp_path):
    """200 seeded mutations each: the loader either reads the file or raises LipcError."""
    readers = {".vnnlib": lambda p: read_vnnlib(p, 4), ".lipc": lambda p: build(p.read_bytes()
                                                                               .decode("latin-1")),
               ".npy": lambda p: load_array(p, "x"), ".npz": lambda p: load_array(p, "x", key="A")}
    original = (examples / name).read_bytes()
    rng = np.random.default_rng(20261203)
    p = tmp_path / name
    for _ in range(200):
        p.write_bytes(_mutate(original, rng))
        try:
            readers[p.suffix](p)
        except LipcError:
            pass
