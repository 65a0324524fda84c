"""Interop (issue 17): gzip-compressed models, programs and VNN-LIB properties; lipc bench solve
with every back end of the solver registry; a missing solver package is a clean error."""
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

import lipc
from lipc.cli.main import main
from lipc.errors import DomainError, LipcError
from lipc.question.vnnlib import read_vnnlib
from lipc.solvers import REGISTRY
from lipc.studies.bench.build import build, read_solu
from lipc.studies.bench.exact_check import check_file
from lipc.studies.bench.resolve import flat_of_file, resolve, runner
from lipc.studies.bench.solfile import read_sol

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _gzip(src: Path, dst: Path) -> Path:
    dst.write_bytes(gzip.compress(src.read_bytes()))
    return dst


def test_gzipped_vnnlib_and_program_read_like_plain(tmp_path):
    net = EXAMPLES / "classifier_4_16_16_3.onnx"
    prop = _gzip(EXAMPLES / "classifier_region.vnnlib", tmp_path / "region.vnnlib.gz")
    plain = read_vnnlib(EXAMPLES / "classifier_region.vnnlib", 4)
    packed = read_vnnlib(prop, 4)
    assert all(np.array_equal(a, b) for a, b in zip(plain, packed))
    assert lipc.compile(net, f"vnnlib:{prop}", output="0-1")[1].mip.n_cols > 0
    prog = _gzip(EXAMPLES / "toy2d.lipc", tmp_path / "toy2d.lipc.gz")
    assert lipc.load(prog).graph is not None
    assert main(["solve", str(prog), "--json", "-q"]) == 0


@pytest.mark.parametrize("name", ["bad.vnnlib.gz", "cut.vnnlib.gz"])
def test_corrupt_gzipped_vnnlib_is_one_line_error(tmp_path, capsys, name):
    raw = gzip.compress((EXAMPLES / "classifier_region.vnnlib").read_bytes())
    (tmp_path / name).write_bytes(b"not gzip" if name.startswith("bad") else raw[:40])
    net = EXAMPLES / "classifier_4_16_16_3.onnx"
    with pytest.raises(DomainError, match="decompress"):
        lipc.solve(net, f"vnnlib:{tmp_path / name}", output="0-1")
    assert main(["solve", str(net), "--domain", f"vnnlib:{tmp_path / name}",
                 "--output", "0-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lipc: error: cannot decompress")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Two instances: one solved (=opt=), one stopped by a one-node budget (=best=)."""
    tmp = tmp_path_factory.mktemp("interop")
    man = tmp / "lib.toml"
    man.write_text('name = "two"\nnode_limit = 1\n[defaults]\ndomain = "box:0:1"\n'
                   'output = "0-1"\n[[instance]]\nname = "small"\n'
                   'network = "random:3-5-2:4"\n[[instance]]\nname = "open"\n'
                   'network = "random:5-16-16-2:3"\n')
    build(man, tmp / "lib", time_limit=60)
    return tmp / "lib"


def test_sol_files_read_back_and_check_exactly(library):
    """Each =opt= / =best= value has its MIPLIB .sol file: feasible for the instance file in exact
    arithmetic, its =obj= the .solu value, and HiGHS reads it back column for column."""
    import highspy

    solu = read_solu(library / "two.solu")
    assert {k for k, _ in solu.values()} == {"opt", "best"}
    for name, (kind, value) in solu.items():
        mps, sol = library / "instances" / f"{name}.mps.gz", library / "solutions" / f"{name}.sol"
        obj, values = read_sol(sol)
        assert obj == value
        chk = check_file(mps, values)
        assert chk.feasible and chk.objective == value
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.readModel(str(mps))
        assert h.readSolution(str(sol), 0) == highspy.HighsStatus.kOk
        got = h.getSolution()
        names = [h.getColName(j)[1] for j in range(h.getNumCol())]
        assert got.value_valid
        assert dict(zip(names, got.col_value)) == {n: values.get(n, 0.0) for n in names}
        log = (library / "results" / f"{name}.log").read_text()
        assert "HiGHS" in log or "highs" in log.lower()


def test_every_registry_solver_resolves_a_library(tmp_path):
    man = tmp_path / "lib.toml"
    man.write_text('name = "one"\n[[instance]]\nname = "r"\nnetwork = "random:3-5-2:4"\n'
                   'domain = "box:0:1"\noutput = "0-1"\n')
    build(man, tmp_path / "lib", time_limit=30)
    usable = [n for n, b in REGISTRY.items() if b.usable()]
    assert {"highs", "cbc"} <= set(usable)
    for name in usable:
        rep = resolve(tmp_path / "lib", name, time_limit=30)
        assert rep.ok and rep.rows[0]["status"] == "opt", (name, rep.rows)


def test_file_arrays_match_the_written_mip(tmp_path):
    """The arrays the non-file-reading back ends get are the file's model, negated back."""
    import io

    from lipc.emit import WRITERS
    p, low = lipc.compile(EXAMPLES / "toy_2_8_8_1.onnx", "box:-1:1")
    buf = io.BytesIO()
    WRITERS[".mps.gz"](low.mip, buf)
    (tmp_path / "t.mps.gz").write_bytes(buf.getvalue())
    flat = flat_of_file(tmp_path / "t.mps.gz")
    a, b = REGISTRY["highs"].solve(flat, lipc.SolveOptions()), \
        REGISTRY["highs"].solve(low.mip, lipc.SolveOptions())
    assert a.status == b.status == "optimal"
    assert abs(a.incumbent - b.incumbent) <= 1e-9 * abs(b.incumbent)


def test_bench_solve_missing_package_is_a_clean_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(type(REGISTRY["scip"]), "available", lambda self: False)
    with pytest.raises(LipcError, match="pip install"):
        runner("scip")
    (tmp_path / "lib").mkdir()
    assert main(["bench", "solve", str(tmp_path / "lib"), "--solver", "scip"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not installed" in err[0]


CBC_LOG = """\
     Pass   Fixed Tightened Strengthened  Subst Time(s)
        1       0         0           15      0   0.064
Cbc0045I MIPStart provided solution with cost 0.120772
   Pass     Rows    Tight   Frac     Suminf        Objective  Time(s)
     1      257        0     31      11.29         0.476778    0.200
     2      264        7     30      11.02         0.467216    0.230
 ★    2      4           13       2.9003 solution            0.1628223    0.148
✔ Root node heuristics — best 0.1707 in 0.214s
         0        1      0       0.1707                         0.461336  170.26%      6.05
        29       14     15       0.1707                         0.461001  170.06%      7.53
"""


def test_cbc_log_gives_progress_from_the_root_node_on():
    """CBC's root node (cut passes, heuristics, a MIP start) can take a whole time limit before
    its branch-and-bound table starts: its rows give progress too."""
    from lipc.solvers.cbc import LogProgress
    read = LogProgress()
    rows = [read(line) for line in CBC_LOG.splitlines()]
    assert rows == [None, None, (0, 0.120772, None), None, (0, 0.120772, 0.476778),
                    (0, 0.120772, 0.467216), (0, 0.1628223, 0.467216), (0, 0.1707, 0.467216),
                    (0, 0.1707, 0.461336), (29, 0.1707, 0.461001)]


def test_cbc_reports_progress_through_the_backend():
    from lipc.solvers import Progress
    calls = []
    p, low = lipc.compile(EXAMPLES / "toy_2_8_8_1.onnx", "box:-1:1")
    sink = Progress("cbc", True, sink=lambda *a: calls.append(a), every=0.0)
    out = REGISTRY["cbc"].solve(low.mip, lipc.SolveOptions(), progress=sink)
    assert out.status == "optimal" and calls
    assert any(c[3] is not None for c in calls)          # a bound before the end
