"""lipc bench (issue 7): a small MIP library built, re-solved by HiGHS and CBC, rebuilt
byte-identically, resumed after a real interrupt, and built with two workers and on a local Dask
cluster with identical files."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import oracle

from lipc.studies.bench.build import SUBDIRS, build, read_solu
from lipc.studies.bench.exact_check import check_file
from lipc.studies.bench.manifest import load_manifest
from lipc.studies.bench.resolve import resolve
from lipc.cli.main import main
from lipc.errors import LipcError
from lipc.util.ownership import LEDGER, Ledger
from lipc.util.workers import Parallelism

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
[[instance]]
name = "trained"
network = "trained:4-8-8-2:0:150:l1:0.001"
output = "1-0"
''')
    return p


NAMES = ["rand1", "rand2", "toy", "trained"]


def _files(d: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted((d / "instances").iterdir())}


def _library(d: Path) -> dict[str, bytes]:
    """Every file of a library except the run log (results/: solve times) and the ownership
    ledger (which hashes the run log)."""
    return {str(f.relative_to(d)): f.read_bytes() for f in sorted(d.rglob("*"))
            if f.is_file() and "results" not in f.parts and f.name != LEDGER}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    man = _manifest(tmp, EXAMPLES)
    rep = build(man, tmp / "a", time_limit=30)
    return tmp, man, rep


def test_build_writes_library_and_solvers_agree(built):
    tmp, man, rep = built
    lib = tmp / "a"
    assert rep.built == NAMES and rep.skipped == []
    assert sorted(_files(lib)) == [f"{n}.mps.gz" for n in NAMES]
    assert sorted(p.name for p in (lib / "networks").iterdir()) == [
        "random_3-6-6-2_s1.onnx", "random_3-6-6-2_s2.onnx", "trained_4-8-8-2_s0_e150_l10.001.onnx"]
    solu = read_solu(lib / "mini.solu")
    assert list(solu) == NAMES
    for r in rep.results:
        kind, v = solu[r["name"]]
        assert kind == "opt" and v < 0                 # the file minimises the negation
        assert v == pytest.approx(-r["value"], rel=1e-6)
        assert r["check_feasible"] and r["check_violation"] <= 1e-9
        assert r["binaries"] > 0 and 0 < r["coef_min"] <= r["coef_max"]
    rows = (lib / "mini.csv").read_text().splitlines()
    assert rows[0].startswith("name,rows,columns,binaries,nonzeros,min_big_m,max_big_m,coef_min")
    assert len(rows) == 5 and all(",easy," in r for r in rows[1:])
    readme = (lib / "README.md").read_text()
    assert "| rand1 | random:3-6-6-2:1 | box:0:1 | 0-1 |" in readme
    assert "4 `=opt=`" in readme and "toy_2_8_8_1.onnx" in readme
    for solver in ("highs", "cbc"):
        res = resolve(lib, solver)
        assert res.ok and len(res.rows) == 4, res.rows
        assert main(["bench", "solve", str(lib), "--solver", solver]) == 0


def test_library_values_match_the_oracle(built):
    """Each reference value is the true Lipschitz constant: the region-enumeration oracle on the
    library's own generated networks and on the file network."""
    import onnx
    from onnx import numpy_helper
    tmp, _, rep = built
    nets = {"rand1": "random_3-6-6-2_s1.onnx", "rand2": "random_3-6-6-2_s2.onnx",
            "trained": "trained_4-8-8-2_s0_e150_l10.001.onnx"}
    for r in rep.results:
        path = (tmp / "a" / "networks" / nets[r["name"]] if r["name"] in nets
                else EXAMPLES / "toy_2_8_8_1.onnx")
        init = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
        if r["name"] == "toy":                                   # PyTorch names: 0.weight, ...
            keys = sorted({k.rsplit(".", 1)[0] for k in init}, key=int)
            Ws, bs = [init[f"{k}.weight"] for k in keys], [init[f"{k}.bias"] for k in keys]
        else:
            n = len([k for k in init if k.startswith("W")])
            Ws, bs = [init[f"W{k}"] for k in range(n)], [init[f"b{k}"] for k in range(n)]
        query = {"rand1": dict(c=[1.0, -1.0]), "rand2": dict(beta="inf"),
                 "toy": dict(c=[1.0], alpha="1"), "trained": dict(c=[-1.0, 1.0])}[r["name"]]
        exact = oracle.lipschitz(Ws, bs, lo=0.0, hi=1.0, **{"alpha": "inf", **query}).value
        assert -r["file_value"] == pytest.approx(exact, rel=1e-6), r["name"]


def test_solu_values_are_exact_objectives_of_feasible_solutions(built):
    """The .solu value is the exactly recomputed objective of a solution the independent
    checker accepts; a shifted value would not be (the checker is not a rubber stamp)."""
    tmp, _, rep = built
    for r in rep.results:
        assert r["check_objective"] == r["file_value"]
        assert abs(r["file_value"] + r["value"]) <= 1e-9 * max(1, abs(r["value"]))


def test_rebuild_two_workers_and_dask_cluster_give_identical_files(built):
    distributed = pytest.importorskip("distributed")
    tmp, man, _ = built
    build(man, tmp / "b", time_limit=30)
    build(man, tmp / "c", Parallelism(workers=2), time_limit=30)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        build(man, tmp / "d", Parallelism(scheduler=cluster.scheduler_address), time_limit=30)
    a = _library(tmp / "a")
    assert len(a) == 14     # 4 instances, 4 .sol files, 3 networks, .solu, .csv, README
    for d in ("b", "c", "d"):
        assert _library(tmp / d) == a, d


def test_parallelism_errors(monkeypatch):
    from lipc.util import workers
    with pytest.raises(LipcError, match="at least 1"):
        Parallelism(workers=0)
    with pytest.raises(LipcError, match="scheduler address"):
        Parallelism(scheduler="localhost")
    monkeypatch.setattr(workers, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(LipcError, match="cannot reach the Dask scheduler"):
        list(workers.run_jobs(abs, [("a", (1,))], Parallelism(scheduler="tcp://127.0.0.1:9")))


def test_progress_line_eta():
    import io
    from lipc.util.workers import Progress
    now = [100.0]
    out = io.StringIO()
    bar = Progress(4, "bench x", out, clock=lambda: now[0])
    now[0] = 110.0
    bar.advance("a")
    now[0] = 120.0
    bar.advance("b")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("bench x 1/4 [######..................]  25%  0:10 elapsed  "
                               "ETA 0:30  a")
    assert "2/4" in lines[1] and "0:20 elapsed  ETA 0:20  b" in lines[1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_interrupted_build_resumes(built, tmp_path, workers):
    """Ctrl-C in the middle of a real build (SIGINT to the whole process group, as a terminal
    sends it): exit 130 at once without tracebacks, finished instances kept complete, no
    partial or temp file; the rerun builds only the rest and equals a clean build."""
    tmp, man, _ = built
    lib = tmp_path / "lib"
    cmd = [sys.executable, "-m", "lipc", "bench", "build", str(man), "-o", str(lib), "-t", "30",
           "-j", workers]
    # cwd: not the repository root, whose lipc/ would shadow the installed package
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    # a finished record, not the temp file of one being written (the interrupt removes that)
    while not ((lib / "results").is_dir() and any((lib / "results").glob("[!.]*.json"))):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10                    # running solves are stopped, not awaited
    done = sorted(p.stem for p in (lib / "results").glob("*.json"))
    assert proc.returncode == 130 and "run the same command again to resume" in err, err
    assert "Traceback" not in err
    assert done != NAMES and done                        # interrupted before the end
    assert not [f for f in lib.rglob("*") if f.name.endswith(".tmp")]
    assert not (lib / "mini.solu").exists()
    for name in done:                                    # what is there is complete
        assert (lib / "instances" / f"{name}.mps.gz").read_bytes() == \
            (tmp / "a" / "instances" / f"{name}.mps.gz").read_bytes()
    rep = build(man, lib, time_limit=30)
    assert rep.skipped == done and rep.built == [n for n in NAMES if n not in done]
    assert _library(lib) == _library(tmp / "a")


def test_resume_redoes_what_changed(built, tmp_path):
    """A changed network file is rebuilt (the key hashes its bytes, not its path); a record
    without a proved optimum is re-solved under another time limit; an instance dropped from
    the manifest leaves nothing behind; another library's folder is refused."""
    tmp, man, _ = built
    import shutil
    lib, net = tmp_path / "lib", tmp_path / "net.onnx"
    shutil.copy(EXAMPLES / "toy_2_8_8_1.onnx", net)
    m = tmp_path / "m.toml"
    m.write_text(f'name = "m"\n[[instance]]\nname = "a"\nnetwork = "{net}"\n'
                 f'domain = "box:0:1"\n[[instance]]\nname = "b"\n'
                 f'network = "random:3-6-6-1:1"\ndomain = "box:0:1"\n')
    first = build(m, lib, time_limit=30)
    assert first.built == ["a", "b"]
    shutil.copy(EXAMPLES / "toy_2_8_8_1_dynbatch.onnx", net)     # same weights, other bytes
    assert build(m, lib, time_limit=30).built == ["a"]
    rec = json.loads((lib / "results" / "b.json").read_text())
    rec.update(solu="unkn", file_value=None)                     # as if stopped by a limit
    Ledger.open(lib, SUBDIRS, "library").write(lib / "results" / "b.json",
                                                json.dumps(rec).encode())
    assert build(m, lib, time_limit=30).built == []             # same settings: kept
    assert build(m, lib, time_limit=40).built == ["b"]          # a longer limit: solved again
    m.write_text(m.read_text().split("[[instance]]\nname = \"b\"")[0])
    build(m, lib, time_limit=40)
    assert sorted(p.name for p in (lib / "instances").iterdir()) == ["a.mps.gz"]
    assert not (lib / "networks" / "random_3-6-6-1_s1.onnx").exists()
    assert read_solu(lib / "m.solu").keys() == {"a"}
    m.write_text(m.read_text().replace('name = "m"', 'name = "other"'))
    with pytest.raises(LipcError, match="holds another library"):
        build(m, lib)


def test_stale_temp_file_of_a_killed_run_is_removed(built, tmp_path):
    tmp, man, _ = built
    import shutil
    lib = tmp_path / "lib"
    shutil.copytree(tmp / "a", lib)
    stale = lib / "instances" / ".toy.mps.gz.0123456789ab.tmp"
    stale.write_bytes(b"half a file")
    rep = build(man, lib, time_limit=30)
    assert rep.built == [] and not stale.exists()


def test_resume_rebuilds_only_unfinished(built, tmp_path):
    tmp, man, _ = built
    import shutil
    lib = tmp_path / "lib"
    shutil.copytree(tmp / "a", lib)
    (lib / "results" / "rand2.json").unlink()
    before = _files(lib)
    rep = build(man, lib, time_limit=30)
    assert rep.built == ["rand2"] and rep.skipped == ["rand1", "toy", "trained"]
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
                      ("[[instance]]\nname='a'\nnetwork='random:2-2-1:0'\ndomain='box:0:1'\n"
                       "output='0'\noutput_norm='linf'\n", "not both"),
                      ("[[instance]]\nname='a'\nnetwork='trained:2-2-2:0:10:l3'\n"
                       "domain='box:0:1'\n", "regularizer one of"),
                      ("name = [\n", "not valid TOML")]:
        bad.write_text(text)
        with pytest.raises(LipcError, match=msg):
            load_manifest(bad)
    bad.write_text("[defaults]\ndomain='box:0:1'\noutput='0-1'\n[[instance]]\nname='a'\n"
                   "network='random:2-2-2:0'\noutput_norm='margin'\n")
    inst = load_manifest(bad).instances[0]       # an instance's output_norm beats a default output
    assert (inst.question.output, inst.question.output_norm) == (None, "margin")
    for flag, value in (("--workers", "0"), ("-t", "-1"), ("--easy-seconds", "nan")):
        with pytest.raises(SystemExit) as exc:
            main(["bench", "build", str(bad), "-o", str(tmp_path / "z"), flag, value])
        assert exc.value.code == 2 and "must be" in capsys.readouterr().err
    bad.write_text("name = [\n")
    assert main(["bench", "build", str(bad), "-o", str(tmp_path / "z")]) == 2
    assert "bad manifest" in capsys.readouterr().err


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file below ``root`` (links not followed)."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def _tiny_manifest(folder: Path, network: str = "random:2-3-1:0") -> Path:
    m = folder / "m.toml"
    m.write_text(f'name = "m"\n[[instance]]\nname = "a"\nnetwork = "{network}"\n'
                 f'domain = "box:0:1"\n')
    return m


def test_build_into_the_manifests_own_folder_touches_nothing(tmp_path, capsys):
    """Issue 19: `bench build m.toml -o <its folder>` deleted the input network and user files
    in networks/ and results/ and overwrote README.md; now refused, every byte and mtime kept."""
    import shutil
    proj = tmp_path / "proj"
    (proj / "networks").mkdir(parents=True)
    (proj / "results").mkdir()
    shutil.copy(EXAMPLES / "toy_2_8_8_1.onnx", proj / "networks" / "mine.onnx")
    (proj / "results" / "notes.json").write_text("[1, 2]")
    (proj / "README.md").write_text("my project\n")
    m = _tiny_manifest(proj, "networks/mine.onnx")
    before = _snapshot(proj)
    assert main(["bench", "build", str(m), "-o", str(proj), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lipc: error:") and "did not write" in err
    assert _snapshot(proj) == before


def test_symlinked_networks_folder_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "keep.onnx").write_bytes(b"user data")
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "networks").symlink_to(target)
    before = _snapshot(target)
    with pytest.raises(LipcError, match=r"did not write \(networks\)"):
        build(_tiny_manifest(tmp_path), lib, time_limit=30)
    assert _snapshot(target) == before and (lib / "networks").is_symlink()


def test_foreign_changed_and_odd_files_in_a_library_are_never_deleted(tmp_path):
    """A user file dropped into a built library, a sub-folder in networks/, a results record
    changed by hand (`[1, 2]`, a name with a newline): the rebuild refuses at once and
    changes nothing; with the intruder gone, it resumes; pruning removes only lipc's files."""
    m = _tiny_manifest(tmp_path)
    lib = tmp_path / "lib"
    assert build(m, lib, time_limit=30).built == ["a"]
    rec = lib / "results" / "a.json"
    good = rec.read_bytes()
    intruders = [(lib / "networks" / "user.onnx", b"user"), (rec, b"[1, 2]"),
                 (rec, good.replace(b'"name": "a"', b'"name": "a\\n=opt= x 1"')),
                 (lib / "instances" / "extra.mps.gz", b"mine")]
    for path, data in intruders:
        path.write_bytes(data)
        before = _snapshot(lib)
        with pytest.raises(LipcError, match="did not write"):
            build(m, lib, time_limit=30)
        assert _snapshot(lib) == before
        path.unlink() if path != rec else path.write_bytes(good)
    (lib / "networks" / "sub").mkdir()
    with pytest.raises(LipcError, match=r"networks/sub/"):
        build(m, lib, time_limit=30)
    (lib / "networks" / "sub").rmdir()
    assert build(m, lib, time_limit=30).skipped == ["a"]
    m.write_text(m.read_text().replace("random:2-3-1:0", "random:2-3-1:1"))
    build(m, lib, time_limit=30)                    # the old network is lipc's: pruned
    assert sorted(p.name for p in (lib / "networks").iterdir()) == ["random_2-3-1_s1.onnx"]


def test_track_output_folder_with_foreign_files_is_refused(tmp_path):
    from lipc.question.question import Question
    from lipc.studies.track import Tracking, discover, track
    import shutil
    ck = tmp_path / "ck"
    ck.mkdir()
    shutil.copy(EXAMPLES / "toy_2_8_8_1.onnx", ck / "step_1.onnx")
    out = tmp_path / "out"
    (out / "rows").mkdir(parents=True)
    (out / "rows" / "mine.json").write_text("{}")
    before = _snapshot(out)
    with pytest.raises(LipcError, match="did not write"):
        track(discover([str(ck)]), Tracking(Question("box:0:1")), ["fastlip"], out)
    assert _snapshot(out) == before
