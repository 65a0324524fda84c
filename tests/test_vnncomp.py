"""lipc bench build --vnncomp (issue 17): a VNN-COMP benchmark folder (instances.csv, onnx and
vnnlib files, some gzipped) becomes a library whose values are the oracle's exact constants."""
import gzip
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import oracle
from lipc.cli.main import main
from lipc.errors import LipcError
from lipc.studies.bench.build import build, read_solu
from lipc.studies.bench.vnncomp import question, vnncomp_manifest

FOLDER = Path(__file__).resolve().parent.parent / "examples" / "vnncomp"


def _weights(path: Path):
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    init = {t.name: numpy_helper.to_array(t).astype(np.float64)
            for t in onnx.load_from_string(data).graph.initializer}
    n = len([k for k in init if k.startswith("W")])
    return [init[f"W{k}"] for k in range(n)], [init[f"b{k}"] for k in range(n)]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    out = tmp_path_factory.mktemp("vnncomp") / "lib"
    rep = build(vnncomp_manifest(FOLDER), out, time_limit=60)
    return out, rep


def test_folder_builds_one_instance_per_row(library):
    out, rep = library
    assert rep.built == ["net_4_8_3__robust_0", "net_4_8_3__order_1_2",
                         "net_4_6_6_3__robust_0", "net_4_6_6_3__order_1_2"]
    asked = {r["name"]: r["output"] for r in rep.results}
    assert asked["net_4_8_3__robust_0"] == "margin:0" and asked["net_4_8_3__order_1_2"] == "1-2"
    solu = read_solu(out / "vnncomp.solu")
    assert all(kind == "opt" for kind, _ in solu.values())
    assert all((out / "solutions" / f"{n}.sol").is_file() for n in solu)
    assert "--vnncomp vnncomp" in (out / "README.md").read_text()


def test_values_are_the_oracles(library):
    """margin:0 on the l_inf ball is max_j L(f_0 - f_j); 1-2 on the cut box [0,1]^4 with
    x_0 + x_1 <= 1 is L(f_1 - f_2); both with the l_inf input norm (l_1 gradient norm)."""
    _, rep = library
    got = {r["name"]: -r["file_value"] for r in rep.results}
    Ws, bs = _weights(FOLDER / "onnx" / "net_4_8_3.onnx")
    margins = oracle.lipschitz_many(Ws, bs, lo=0.4, hi=0.6, queries=[
        ([1.0, -1.0, 0.0], "inf"), ([1.0, 0.0, -1.0], "inf")])
    assert got["net_4_8_3__robust_0"] == pytest.approx(max(margins), rel=1e-6)
    Ws, bs = _weights(FOLDER / "onnx" / "net_4_6_6_3.onnx.gz")
    exact = oracle.lipschitz(Ws, bs, lo=0.0, hi=1.0, A=np.array([[1.0, 1.0, 0.0, 0.0]]),
                             b=np.array([1.0]), c=[0.0, 1.0, -1.0], alpha="inf").value
    assert got["net_4_6_6_3__order_1_2"] == pytest.approx(exact, rel=1e-6)


DECL = "".join(f"(declare-const X_{i} Real)\n" for i in range(2)) + \
    "".join(f"(declare-const Y_{i} Real)\n" for i in range(4)) + \
    "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n"


@pytest.mark.parametrize("prop, asked", [
    ("(assert (<= Y_0 3.99))", {"output": "0"}),
    ("(assert (or (and (<= Y_3 Y_1)) (and (<= (* 2 Y_3) (* 2 Y_1)))))", {"output": "1-3"}),
    ("(assert (or (>= Y_0 Y_2) (>= Y_1 Y_2) (>= Y_3 Y_2)))", {"output_norm": "margin:2"}),
    ("(assert (or (>= Y_0 Y_2) (>= Y_1 Y_2)))", {"output_norm": "linf"}),    # not every class
    ("(assert (<= (+ Y_0 (* 0.5 Y_1)) 1))", {"output": "1.0,0.5,0.0,0.0"}),
    ("(assert (and (<= Y_0 1) (>= Y_1 2)))", {"output_norm": "linf"}),
])
def test_question_table(tmp_path, prop, asked):
    (tmp_path / "p.vnnlib").write_text(DECL + prop + "\n")
    assert question(tmp_path / "p.vnnlib") == asked


def test_bad_folders_are_one_line_errors(tmp_path, capsys):
    bench = tmp_path / "bench"
    bench.mkdir()
    with pytest.raises(LipcError, match="no instances.csv"):
        vnncomp_manifest(bench)
    (bench / "instances.csv").write_text("onnx/missing.onnx,p.vnnlib,10\n")
    with pytest.raises(LipcError, match=r"instances.csv:1: onnx/missing.onnx not found"):
        vnncomp_manifest(bench)
    (bench / "instances.csv").write_text("just-one-cell\n")
    assert main(["bench", "build", "--vnncomp", str(bench), "-o", str(tmp_path / "o")]) == 2
    assert main(["bench", "build", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("lipc: error: ") for e in err)
    assert "expected onnx,vnnlib,timeout" in err[0] and "--vnncomp DIR" in err[1]


def test_building_into_the_benchmark_folder_touches_nothing(tmp_path, capsys):
    """The benchmark's own folder holds files lipc did not write: refused, nothing changed."""
    import shutil
    bench = tmp_path / "bench"
    shutil.copytree(FOLDER, bench)
    before = {p: p.read_bytes() for p in bench.rglob("*") if p.is_file()}
    assert main(["bench", "build", "--vnncomp", str(bench), "-o", str(bench)]) == 2
    assert "lipc did not write" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in bench.rglob("*") if p.is_file()} == before
