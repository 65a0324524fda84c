"""lipc bench (issue 7): a small MIP library built, re-solved by HiGHS and CBC, rebuilt
byte-identically, resumed, and built with two workers."""
from pathlib import Path

import pytest

from lipc.bench.build import build, read_solu
from lipc.bench.manifest import load_manifest
from lipc.bench.resolve import resolve
from lipc.cli import main
from lipc.errors import LipcError

pytest.importorskip("highspy")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _manifest(tmp_path: Path, examples: Path) -> Path:
    p = tmp_path / "lib.toml"
    p.write_text(f'''name = "mini"
[defaults]
domain = "box:0:1"
[[instance]]
name = "rand1"
network = "random:3-6-6-2:1"
output = "0-1"
[[instance]]
name = "rand2"
network = "random:3-6-6-2:2"
output_norm = "linf"
[[instance]]
name = "toy"
network = "{examples / 'toy_2_8_8_1.onnx'}"
input_norm = "l1"
''')
    return p


def _files(d: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted((d / "instances").iterdir())}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    man = _manifest(tmp, EXAMPLES)
    rep = build(man, tmp / "a", time_limit=30)
    return tmp, man, rep


def test_build_writes_library_and_solvers_agree(built):
    tmp, man, rep = built
    lib = tmp / "a"
    assert rep.built == ["rand1", "rand2", "toy"] and rep.skipped == []
    assert sorted(_files(lib)) == ["rand1.mps.gz", "rand2.mps.gz", "toy.mps.gz"]
    solu = read_solu(lib / "mini.solu")
    assert list(solu) == ["rand1", "rand2", "toy"]
    for r in rep.results:
        kind, v = solu[r["name"]]
        assert kind == "opt" and v < 0                 # the file minimises the negation
        assert v == pytest.approx(-r["value"], rel=1e-6)
    rows = (lib / "mini.csv").read_text().splitlines()
    assert rows[0].startswith("name,rows,columns,binaries,nonzeros,max_big_m,status")
    assert len(rows) == 4 and all(",easy," in r for r in rows[1:])
    for solver in ("highs", "cbc"):
        res = resolve(lib, solver)
        assert res.ok and len(res.rows) == 3, res.rows
        assert main(["bench", "solve", str(lib), "--solver", solver]) == 0


def test_rebuild_is_byte_identical_and_two_workers_agree(built):
    tmp, man, _ = built
    build(man, tmp / "b", time_limit=30)
    build(man, tmp / "c", workers=2, time_limit=30)
    a = _files(tmp / "a")
    assert _files(tmp / "b") == a and _files(tmp / "c") == a
    for d in ("b", "c"):
        assert (tmp / d / "mini.solu").read_text() == (tmp / "a" / "mini.solu").read_text()


def test_resume_rebuilds_only_unfinished(built, tmp_path):
    tmp, man, _ = built
    import shutil
    lib = tmp_path / "lib"
    shutil.copytree(tmp / "a", lib)
    (lib / "results" / "rand2.json").unlink()
    before = _files(lib)
    rep = build(man, lib, time_limit=30)
    assert rep.built == ["rand2"] and rep.skipped == ["rand1", "toy"]
    assert _files(lib) == before
    assert not [f for f in lib.rglob("*") if f.name.endswith(".tmp")]


def test_mismatch_fails_and_bad_manifests(built, tmp_path, capsys):
    tmp, man, _ = built
    import shutil
    lib = tmp_path / "lib"
    shutil.copytree(tmp / "a", lib)
    solu = lib / "mini.solu"
    solu.write_text(solu.read_text().replace("=opt= toy -", "=opt= toy -1"))
    assert main(["bench", "solve", str(lib), "--solver", "highs"]) == 1
    assert "MISMATCH" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    for text, msg in [("name = 'x'\n", "at least one"),
                      ("[[instance]]\nname='a'\nnetwork='random:3:1'\ndomain='box:0:1'\n",
                       "two positive"),
                      ("[[instance]]\nname='a'\nnetwork='nope.onnx'\ndomain='box:0:1'\n",
                       "not found"),
                      ("[[instance]]\nname='a'\nnetwork='random:2-2-1:0'\n", "'domain'"),
                      ("[[instance]]\nname='a b'\nnetwork='random:2-2-1:0'\ndomain='box:0:1'\n",
                       "name must match"),
                      ("name = [\n", "not valid TOML")]:
        bad.write_text(text)
        with pytest.raises(LipcError, match=msg):
            load_manifest(bad)
    assert main(["bench", "build", str(bad), "-o", str(tmp_path / "z")]) == 2
    assert "bad manifest" in capsys.readouterr().err
