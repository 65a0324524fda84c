"""Issue 19, adversarial table for bench / track / workers / estimators / guards: each hostile
input is one line `lipc: error: ...` and exit 2, and touches no file it did not write."""
import numpy as np
import pytest

import lipc
import lipc.solvers
from lipc.cli.main import main

EX = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"
TOY = str(EX / "toy_2_8_8_1.onnx")


def run_error(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("lipc: error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.fixture
def man(tmp_path):
    m = tmp_path / "m.toml"
    m.write_text('name = "m"\n[[instance]]\nname = "a"\nnetwork = "random:2-3-1:0"\n'
                 'domain = "box:0:1"\n')
    return m


@pytest.mark.parametrize("flags, needle", [
    (["--scheduler", "foo://x"], "tcp://host:8786 or tls://"),
    (["--scheduler", "tcp://"], "tcp://host:8786 or tls://"),
    (["--scheduler", "localhost:8786"], "tcp://host:8786 or tls://"),
    (["--scheduler", "tls://h:1"], "needs all of --tls-ca"),
    (["--scheduler", "tcp://h:1", "--tls-ca", "a", "--tls-cert", "b", "--tls-key", "c"],
     "only it takes them"),
    (["--tls-ca", "a"], "need a tls:// --scheduler"),
])
def test_bad_scheduler(man, tmp_path, capsys, flags, needle):
    assert needle in run_error(capsys, ["bench", "build", str(man), "-o",
                                        str(tmp_path / "lib"), "-q"] + flags)
    assert not (tmp_path / "lib").exists()


def test_output_folder_is_the_manifests_own(man, capsys):
    assert "did not write" in run_error(capsys, ["bench", "build", str(man), "-o",
                                                 str(man.parent), "-q"])


def test_output_folder_is_a_file(man, tmp_path, capsys):
    f = tmp_path / "lib"
    f.write_text("mine")
    assert "not a folder" in run_error(capsys, ["bench", "build", str(man), "-o", str(f), "-q"])
    assert f.read_text() == "mine"


def test_foreign_ledger_file(man, tmp_path, capsys):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / ".lipc-owned").write_text("mine")
    assert "not a lipc ownership ledger" in run_error(
        capsys, ["bench", "build", str(man), "-o", str(lib), "-q"])


@pytest.mark.parametrize("method", ["randomlb", "clever"])
def test_samples_above_the_guard(capsys, method):
    assert "--max-samples" in run_error(capsys, ["estimate", TOY, "-d", "box:0:1", "-m",
                                                 method, "--samples", "100000000000"])


def test_huge_polytope_coefficient_is_the_right_answer(tmp_path):
    """A row of 1e300s (CBC aborted the process on it, exit 134) is scaled to unit coefficients:
    {1e300 x0 <= 1e300} is x0 <= 1, so the polytope is the unit square."""
    np.save(tmp_path / "A.npy", np.array([[1e300, 0], [-1, 0], [0, 1], [0, -1]]))
    np.save(tmp_path / "b.npy", np.array([1e300, 0, 1, 0]))
    spec = f"polytope:{tmp_path / 'A.npy'},{tmp_path / 'b.npy'}"
    opts = lipc.solvers.SolveOptions(solver="cbc")
    got = lipc.solve(TOY, spec, options=opts)
    want = lipc.solve(TOY, "box:0:1", options=opts)
    assert got.status == want.status == "optimal"
    assert got.value == pytest.approx(want.value, rel=1e-9)
