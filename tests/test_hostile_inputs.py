"""Hostile inputs through the command line: each bad VNN-LIB / DSL / .npy / .npz / domain / norm /
output argument gives exactly one stderr line ``lipc: error: ...`` naming the problem, exit 2,
and nothing on stdout (never a traceback, a warning or a number).  Runs ``lipc.cli.main`` in
process (what ``python -m lipc`` calls), plus a few real ``python -m lipc`` processes."""
import io
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from lipc.cli.main import main

H2 = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
BOX2 = "(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= X_1 1))\n(assert (>= X_1 0))\n"
VNNLIB = {
    "nan": (H2 + BOX2 + "(assert (<= X_0 nan))\n", "line 8: the number 'nan' is not finite"),
    "inf": (H2 + BOX2 + "(assert (<= X_0 inf))\n", "not finite"),
    "empty": (H2 + BOX2 + "(assert (<= (* 0 X_0) -1))\n", "never true: the region is empty"),
    "vacuous": (H2 + BOX2 + "(assert (<= (* 0 X_0) 1))\n", "constrains no input variable"),
    "neg_index": ("(declare-const X_-1 Real)\n(declare-const X_0 Real)\n" + BOX2,
                  "line 1: variable name 'X_-1'"),
    "abc_use": (H2 + BOX2 + "(assert (<= X_abc 1))\n", "X_abc is not a declared input"),
    "abc_decl": ("(declare-const X_abc Real)\n" + H2 + BOX2, "variable name 'X_abc'"),
    "empty_assert": (H2 + BOX2 + "(assert)\n", "exactly one formula"),
    "beyond_decl": (H2 + "(declare-const X_7 Real)\n" + BOX2, "X_7 is beyond the network's 2"),
    "beyond_use": (H2 + BOX2 + "(assert (<= X_7 1))\n", "X_7 is not a declared"),
    "deep": (H2 + "(assert " + "(" * 200_000 + ")" * 200_001 + "\n", "nested deeper"),
    "unbalanced": (H2 + "(assert (<= X_0 1)\n", "unbalanced '('"),
    "extra_paren": (H2 + BOX2 + ")\n", "unbalanced ')'"),
    "disjunction": (H2 + "(assert (or (<= X_0 1) (>= X_0 2)))\n", "disjunction"),
    "product": (H2 + BOX2 + "(assert (<= (* X_0 X_1) 1))\n", "not linear"),
    "mixed": (H2 + BOX2 + "(assert (<= X_0 Y_0))\n", "mixes inputs X and outputs Y"),
    "unknown_op": (H2 + BOX2 + "(assert (<= (/ X_0 2) 1))\n", "unsupported operator '/'"),
    "missing_decl": ("(declare-const X_0 Real)\n" + BOX2, "X_1 is not declared"),
    "duplicate": (H2 + "(declare-const X_0 Real)\n" + BOX2, "declared twice"),
    "stray": (H2 + "hello\n" + BOX2, "stray token"),
    "statement": (H2 + BOX2 + "(check-sat)\n", "unsupported statement"),
    "int_decl": ("(declare-const X_0 Int)\n(declare-const X_1 Real)\n" + BOX2,
                 "malformed declaration"),
    "no_variable": (H2 + BOX2 + "(assert (<= 1 2))\n", "mentions no variable"),
    "overflow": (H2 + BOX2 + "(assert (<= (* 1e300 1e300 X_0) 1))\n", "non-finite"),
    "unbounded": (H2 + "(assert (<= X_0 1))\n", "unbounded"),
    "inverted": (H2 + "(assert (<= X_0 0))\n(assert (>= X_0 1))\n(assert (<= X_1 1))\n"
                 "(assert (>= X_1 0))\n", "domain is empty"),
}


def _npy_bytes(arr, **kw) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, **kw)
    return buf.getvalue()


def _bomb(path, declared=200_000_000):
    """An .npz whose member header declares `declared` float64 entries (1.6 GB) in a tiny file."""
    header = ("{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % declared)
    header = header + " " * (63 - (10 + len(header)) % 64) + "\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("arr_0.npy", data)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    for name, (text, _) in VNNLIB.items():
        (d / f"{name}.vnnlib").write_text(text)
    (d / "bytes.vnnlib").write_bytes(H2.encode() + BOX2.encode() + b"(assert (<= X_0 \xff))\n")
    (d / "garbage.npy").write_bytes(b"this is not numpy" * 10)
    (d / "empty.npy").write_bytes(b"")
    (d / "pickle.npy").write_bytes(_npy_bytes(np.array([{"a": 1}, 2], dtype=object),
                                              allow_pickle=True))
    (d / "raw_pickle.npy").write_bytes(pickle.dumps([1.0, 2.0]))
    np.save(d / "str.npy", np.array(["0.5", "0.5"]))
    np.save(d / "complex.npy", np.array([1 + 1j, 2]))
    np.save(d / "nan2.npy", np.array([np.nan, 0.5]))
    np.save(d / "inf2.npy", np.array([np.inf, 0.5]))
    np.save(d / "three.npy", np.ones(3))
    np.save(d / "two.npy", np.array([0.5, 0.5]))
    np.save(d / "neg2.npy", np.array([1.0, -1.0]))
    np.save(d / "rank1.npy", np.array([[1.0, 1.0], [2.0, 2.0]]))
    np.savez(d / "two_members.npz", a=np.ones(2), b=np.ones(2))
    (d / "bad.npz").write_bytes(b"PK\x03\x04 broken zip")
    _bomb(d / "bomb.npz")
    np.save(d / "huge_decl.npy", np.ones(4))
    raw = (d / "huge_decl.npy").read_bytes().replace(b"(4,)", b"(9999999999999,)".ljust(4))
    (d / "huge_decl.npy").write_bytes(raw)
    box = np.vstack([np.eye(2), -np.eye(2)])
    np.save(d / "A_range.npy", np.vstack([box, [[1e300, 1.0]]]))
    np.save(d / "b_range.npy", np.array([1, 1, 1, 1, 1e300]))
    np.save(d / "A_zero.npy", np.vstack([box, [[0.0, 0.0]]]))
    np.save(d / "b_zero.npy", np.array([1, 1, 1, 1, -1.0]))
    np.save(d / "A_rhs.npy", np.vstack([box, [[1.0, 0.0]]]))
    np.save(d / "b_rhs.npy", np.array([1, 1, 1, 1, 1e20]))
    np.save(d / "A_box.npy", box)
    np.save(d / "b_box.npy", np.ones(4))
    np.save(d / "b_empty.npy", np.array([1, -2, 1, 1.0]))
    np.save(d / "A_open.npy", np.eye(2))
    np.save(d / "b_open.npy", np.ones(2))
    np.save(d / "A_flat.npy", box)
    np.save(d / "b_flat.npy", np.array([1, -1, 1, 1.0]))
    dsl = {
        "inf_literal": "y = x[0] * 1e400\n",
        "inf_list": "y = x[0] * [1e400, 2][0]\n",
        "overflow": "y = x[0] * 1e200 * 1e200\n",
        "zero_step": "y = x[::0][0]\n",
        "escape": 'y = load("\\xzz")\n',
        "unknown_name": "y = z[0]\n",
        "load_pickle": 'y = x[0] * load("pickle.npy")[0]\n',
        "load_garbage": 'y = x[0] * load("garbage.npy")[0]\n',
        "load_bomb": 'y = x[0] * load("bomb.npz")[0]\n',
        "load_str": 'y = x[0] * load("str.npy")[0]\n',
        "index": "y = x[5]\n",
        "div_zero": "y = x[0] / 0\n",
    }
    for name, body in dsl.items():
        (d / f"{name}.lipc").write_text(f"input x[2] in box(0, 1)\n{body}output y\n")
    (d / "big_input.lipc").write_text("input x[1000000000] in box(0, 1)\noutput x[0]\n")
    (d / "big_dims.lipc").write_text("input x[100000, 100000, 100000] in box(0, 1)\n"
                                     "output x[0]\n")
    return d


def _cases():
    toy, clf = "toy_2_8_8_1.onnx", "classifier_4_16_16_3.onnx"
    out = [pytest.param(toy, ["-d", f"vnnlib:{{d}}/{n}.vnnlib"], want, id=f"vnnlib-{n}")
           for n, (_, want) in VNNLIB.items()]
    out.append(pytest.param(toy, ["-d", "vnnlib:{d}/bytes.vnnlib"], "line 8: not UTF-8",
                            id="vnnlib-non-utf8"))
    out.append(pytest.param(toy, ["-d", "vnnlib:{d}/missing.vnnlib"], "not found",
                            id="vnnlib-missing"))
    table = [
        # domains
        ("box-inverted", toy, ["-d", "box:1:0"], "domain is empty"),
        ("box-nan", toy, ["-d", "box:nan:1"], "NaN"),
        ("box-inf", toy, ["-d", "box:0:inf"], "unbounded"),
        ("box-denormal", toy, ["-d", "box:0:5e-324"], "empty interior"),
        ("box-tiny", toy, ["-d", "box:0:1e-300"], "empty interior"),
        ("box-huge", toy, ["-d", "box:-1e300:1e300"], "beyond what MIP solvers accept"),
        ("box-words", toy, ["-d", "box:a:b"], "not a number"),
        ("box-arity", toy, ["-d", "box:0"], "box:LO:HI"),
        ("kind", toy, ["-d", "sphere:0:1"], "unknown domain"),
        ("ball-negative", toy, ["-d", "linf:0.5:-1"], "non-negative"),
        ("ball-centre-size", toy, ["-d", "linf:{d}/three.npy:0.1"], "3 entries"),
        ("centre-garbage", toy, ["-d", "linf:{d}/garbage.npy:0.1"], "not a NumPy array file"),
        ("centre-empty-file", toy, ["-d", "linf:{d}/empty.npy:0.1"], "not a NumPy array file"),
        ("centre-str", toy, ["-d", "linf:{d}/str.npy:0.1"], "expected real numbers"),
        ("centre-complex", toy, ["-d", "linf:{d}/complex.npy:0.1"], "expected real numbers"),
        ("centre-pickle", toy, ["-d", "linf:{d}/pickle.npy:0.1"], "expected real numbers"),
        ("centre-raw-pickle", toy, ["-d", "linf:{d}/raw_pickle.npy:0.1"], "not a NumPy array"),
        ("centre-nan", toy, ["-d", "linf:{d}/nan2.npy:0.1"], "NaN or infinite"),
        ("centre-inf", toy, ["-d", "linf:{d}/inf2.npy:0.1"], "NaN or infinite"),
        ("centre-npz-bomb", toy, ["-d", "linf:{d}/bomb.npz:0.1"], "over the limit"),
        ("centre-npy-huge-header", toy, ["-d", "linf:{d}/huge_decl.npy:0.1"], "over the limit"),
        ("centre-npz-two", toy, ["-d", "linf:{d}/two_members.npz:0.1"], "name one"),
        ("centre-bad-zip", toy, ["-d", "linf:{d}/bad.npz:0.1"], "not a valid .npz"),
        ("centre-missing", toy, ["-d", "linf:{d}/nope.npy:0.1"], "file not found"),
        ("box-lo-garbage", toy, ["-d", "box:{d}/garbage.npy:1"], "not a NumPy array file"),
        ("poly-range", toy, ["-d", "polytope:{d}/A_range.npy,{d}/b_range.npy"], "a range over"),
        ("poly-zero-row", toy, ["-d", "polytope:{d}/A_zero.npy,{d}/b_zero.npy"], "is zero"),
        ("poly-rhs", toy, ["-d", "polytope:{d}/A_rhs.npy,{d}/b_rhs.npy"], "treat numbers as"),
        ("poly-empty", toy, ["-d", "polytope:{d}/A_box.npy,{d}/b_empty.npy"], "empty"),
        ("poly-unbounded", toy, ["-d", "polytope:{d}/A_open.npy,{d}/b_open.npy"], "unbounded"),
        ("poly-flat", toy, ["-d", "polytope:{d}/A_flat.npy,{d}/b_flat.npy"], "empty interior"),
        ("poly-shape", toy, ["-d", "polytope:{d}/three.npy,{d}/b_box.npy"], "shape"),
        ("poly-garbage", toy, ["-d", "polytope:{d}/garbage.npy,{d}/b_box.npy"], "not a NumPy"),
        ("poly-arity", toy, ["-d", "polytope:{d}/A_box.npy"], "polytope:A.npy,b.npy"),
        # input norms
        ("norm-w-garbage", toy, ["-d", "box:0:1", "--input-norm", "linf:{d}/garbage.npy"],
         "not a NumPy array file"),
        ("norm-w-negative", toy, ["-d", "box:0:1", "--input-norm", "l1:{d}/neg2.npy"],
         "positive"),
        ("norm-w-nan", toy, ["-d", "box:0:1", "--input-norm", "l1:{d}/nan2.npy"], "NaN"),
        ("norm-w-str", toy, ["-d", "box:0:1", "--input-norm", "linf:{d}/str.npy"],
         "expected real numbers"),
        ("norm-w-bomb", toy, ["-d", "box:0:1", "--input-norm", "linf:{d}/bomb.npz"],
         "over the limit"),
        ("norm-custom-rank", toy, ["-d", "box:0:1", "--input-norm", "custom:{d}/rank1.npy"],
         "do not span"),
        ("norm-custom-pickle", toy, ["-d", "box:0:1", "--input-norm", "custom:{d}/pickle.npy"],
         "expected real numbers"),
        ("norm-custom-1d", toy, ["-d", "box:0:1", "--input-norm", "custom:{d}/two.npy"], "2-D"),
        ("norm-l2", toy, ["-d", "box:0:1", "--input-norm", "l2"], "no exact MIP"),
        ("norm-unknown", toy, ["-d", "box:0:1", "--input-norm", "l7"], "input norm"),
        # outputs
        ("output-garbage", clf, ["-d", "box:0:1", "--output", "{d}/garbage.npy"], "not a NumPy"),
        ("output-pickle", clf, ["-d", "box:0:1", "--output", "{d}/pickle.npy"], "real numbers"),
        ("output-size", clf, ["-d", "box:0:1", "--output", "{d}/two.npy"], "2 weights"),
        ("output-nan", clf, ["-d", "box:0:1", "--output", "{d}/nan2.npy"], "NaN"),
        ("output-complex", clf, ["-d", "box:0:1", "--output", "{d}/complex.npy"], "real numbers"),
        ("output-bomb", clf, ["-d", "box:0:1", "--output", "{d}/bomb.npz"], "over the limit"),
        ("output-index", clf, ["-d", "box:0:1", "--output", "7"], "out"),
        ("output-self-margin", clf, ["-d", "box:0:1", "--output", "1-1"], "identically zero"),
        ("output-words", clf, ["-d", "box:0:1", "--output", "a,b"], "must be numbers"),
    ]
    out += [pytest.param(model, args, want, id=name) for name, model, args, want in table]
    dsl = {"inf_literal": "2:12: the number 1e400", "inf_list": "2:12: the number 1e400",
           "overflow": "not finite", "zero_step": "slice step cannot be zero",
           "escape": "bad string", "unknown_name": "unknown name 'z'",
           "load_pickle": "expected real numbers", "load_garbage": "not a NumPy array file",
           "load_bomb": "over the limit", "load_str": "expected real numbers",
           "index": "out of range", "div_zero": "nonzero",
           "big_input": "1:1: an input of 1000000000 entries",
           "big_dims": "over the limit"}
    out += [pytest.param("{d}/" + n + ".lipc", [], want, id=f"dsl-{n}") for n, want in dsl.items()]
    return out


CASES = _cases()


def test_at_least_fifty_cases():
    assert len(CASES) >= 50


@pytest.mark.parametrize("model,args,want", CASES)
def test_one_line_error_exit_2(model, args, want, files, examples, capsys):
    model = model.format(d=files) if "{d}" in model else str(examples / model)
    rc = main(["solve", model, *(a.format(d=files) for a in args), "-q"])
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipc: error: "), err
    assert want in lines[0], lines[0]


@pytest.mark.parametrize("name", ["vnnlib-deep", "centre-npz-bomb", "dsl-inf_literal",
                                  "poly-range"])
def test_real_process(name, files, examples):
    """The real entry point, python -m lipc: no traceback, no warning, one line, exit 2."""
    case = next(c for c in CASES if c.id == name)
    model, args, want = case.values
    model = model.format(d=files) if "{d}" in model else str(examples / model)
    proc = subprocess.run([sys.executable, "-m", "lipc", "solve", model,
                           *(a.format(d=files) for a in args), "-q"],
                          capture_output=True, text=True, timeout=120, cwd=files)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("lipc: error: ")
    assert want in proc.stderr


def test_array_size_limit_is_overridable(files, monkeypatch):
    from lipc.util.arrays import load_array
    from lipc.errors import LipcError
    assert load_array(files / "three.npy", "w").tolist() == [1.0, 1.0, 1.0]
    monkeypatch.setenv("LIPC_MAX_ARRAY_ELEMENTS", "2")
    with pytest.raises(LipcError, match="declares 3 entries .* over the limit of 2"):
        load_array(files / "three.npy", "w")
    monkeypatch.setenv("LIPC_MAX_ARRAY_ELEMENTS", "lots")
    with pytest.raises(LipcError, match="not a whole number"):
        load_array(files / "three.npy", "w")
