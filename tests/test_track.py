"""lipc track (issue 11): checkpoints of a small trained net; every row equals the individual
solve / estimate call; an interrupted run resumes; the plot is a real image."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import lipc
import oracle
from lipc import api
from lipc.cli.main import main
from lipc.errors import LipcError
from lipc.question.question import Question
from lipc.studies.track import Checkpoint, Tracking, discover, read_rows, track
from lipc.studies.training import mlp_onnx_bytes, synthetic_clusters, train_mlp
from lipc.util.workers import Parallelism

STEPS = [20, 60, 150]
METHODS = ["lipmip", "fastlip", "randomlb", "naiveub"]


def _train(folder: Path, regularizer: str = "none", seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True)
    X, y = synthetic_clusters(seed, n=120, dim=3)
    paths = []

    def save(epoch, Ws, bs):
        p = folder / f"epoch_{epoch:04d}.onnx"
        p.write_bytes(mlp_onnx_bytes(Ws, bs))
        paths.append(p)
    train_mlp(X, y, [3, 8, 8, 2], seed, epochs=max(STEPS), regularizer=regularizer,
              strength=1e-3, checkpoints=STEPS, on_checkpoint=save)
    return paths


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("track")
    paths = _train(tmp / "plain")
    q = Tracking(Question("box:0:1", output="0-1"), time_limit=60)
    rep = track(discover([str(tmp / "plain")]), q, METHODS, tmp / "out")
    return tmp, paths, q, rep


def _weights(path: Path):
    import onnx
    from onnx import numpy_helper
    init = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    n = len([k for k in init if k.startswith("W")])
    return [init[f"W{k}"] for k in range(n)], [init[f"b{k}"] for k in range(n)]


def test_rows_equal_individual_solve_and_estimate_calls(run):
    tmp, paths, q, rep = run
    assert [(r["step"], r["method"]) for r in rep.rows] == [(s, m) for s in STEPS for m in METHODS]
    assert rep.computed == len(STEPS) * len(METHODS) and rep.reused == 0
    for path, step in zip(paths, STEPS):
        rows = {r["method"]: r for r in rep.rows if r["step"] == step}
        solved = lipc.solve(str(path), "box:0:1", output="0-1")
        assert solved.status == "optimal"
        assert rows["lipmip"]["status"] == "optimal" and rows["lipmip"]["guarantee"] == "exact"
        assert rows["lipmip"]["value"] == pytest.approx(solved.value, rel=1e-9, abs=1e-12)
        assert rows["lipmip"]["lower"] <= rows["lipmip"]["value"] <= rows["lipmip"]["upper"]
        Ws, bs = _weights(path)                   # the independent region-enumeration oracle
        exact = oracle.lipschitz(Ws, bs, lo=0.0, hi=1.0, c=[1.0, -1.0], alpha="inf").value
        assert rows["lipmip"]["value"] == pytest.approx(exact, rel=1e-6)
        for m in METHODS[1:]:
            est = api.estimate(str(path), "box:0:1", method=m, output="0-1")
            assert rows[m]["value"] == est.value and rows[m]["guarantee"] == est.guarantee
        assert rows["randomlb"]["value"] <= solved.value * (1 + 1e-9)
        assert rows["fastlip"]["value"] >= solved.value * (1 - 1e-9)
    saved = json.loads((tmp / "out" / "track.json").read_text())
    assert saved["rows"] == rep.rows and saved["question"]["domain"] == "box:0:1"
    from_csv = read_rows(tmp / "out" / "track.csv")
    assert [r["value"] for r in from_csv] == [r["value"] for r in rep.rows]


def test_rerun_reuses_rows_and_a_changed_question_recomputes(run):
    tmp, _, q, rep = run
    again = track(discover([str(tmp / "plain")]), q, METHODS, tmp / "out")
    assert again.reused == len(rep.rows) and again.computed == 0 and again.rows == rep.rows
    other = Tracking(Question("box:0:1", output="1-0"), time_limit=60)
    changed = track(discover([str(tmp / "plain")]), other, ["fastlip"], tmp / "out")
    assert changed.computed == len(STEPS)


def test_interrupted_cli_run_resumes_with_two_workers(run, tmp_path):
    tmp, _, _, rep = run
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lipc", "track", str(tmp / "plain"), "-d", "box:0:1",
           "-y", "0-1", "-t", "60", "-m", ",".join(METHODS), "-o", str(out)]
    # cwd: not the repository root, whose lipc/ would shadow the installed package
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (out / "rows").is_dir() or not any((out / "rows").glob("*.json")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    kept = len(list((out / "rows").glob("*.json")))
    assert proc.returncode == 130 and "resume" in err, err
    assert 0 < kept < len(rep.rows) and not (out / "track.csv").exists()
    assert not list(out.rglob("*.tmp"))
    assert main(["track", str(tmp / "plain"), "-d", "box:0:1", "-y", "0-1", "-t", "60", "-m",
                 ",".join(METHODS), "-o", str(out), "-j", "2", "-q"]) == 0
    rows = read_rows(out / "track.json")
    assert [(r["step"], r["method"]) for r in rows] == [(r["step"], r["method"])
                                                        for r in rep.rows]
    for a, b in zip(rows, rep.rows):
        assert a["value"] == pytest.approx(b["value"], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<?xml")])
def test_plot_is_a_valid_image(run, tmp_path, suffix, magic):
    pytest.importorskip("matplotlib")
    tmp, _, _, _ = run
    img = tmp_path / f"track{suffix}"
    assert main(["track", str(tmp / "plain"), "-d", "box:0:1", "-y", "0-1", "-m",
                 ",".join(METHODS), "-o", str(tmp / "out"), "--plot", str(img), "-q"]) == 0
    data = img.read_bytes()
    assert data.startswith(magic) and len(data) > 5000
    if suffix == ".png":
        import matplotlib.image
        pixels = matplotlib.image.imread(str(img))
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300
        assert np.ptp(pixels[..., :3]) > 0.5                # not a blank canvas


def test_plot_draws_intervals_and_series(tmp_path):
    pytest.importorskip("matplotlib")
    from lipc.studies.plot import plot_track
    rows = [dict(series=s, step=k, method="lipmip", guarantee="exact",
                 value=None if k == 2 else 1.0 + k, status="time_limit" if k == 2 else "optimal",
                 lower=2.5 if k == 2 else 1.0 + k, upper=3.5 if k == 2 else 1.0 + k)
            for s in ("none", "l2") for k in (0, 1, 2)]
    plot_track(rows, tmp_path / "p.pdf")
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(LipcError, match="image format"):
        plot_track(rows, tmp_path / "p.txt")


def test_missing_matplotlib_is_a_clear_error(run, monkeypatch, capsys):
    tmp, _, _, _ = run
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["track", str(tmp / "plain"), "-d", "box:0:1", "-y", "0-1", "-m", "fastlip",
                 "-o", str(tmp / "o2"), "--plot", str(tmp / "x.png")]) == 2
    assert "pip install 'lipc[plot]'" in capsys.readouterr().err
    assert not (tmp / "o2").exists()                  # refused before any work


def test_discovery_orders_by_step_and_series(tmp_path):
    a = _train(tmp_path / "none")
    b = _train(tmp_path / "l2", "l2")
    got = discover([str(tmp_path / "l2" / "epoch_*.onnx"), str(tmp_path / "none")])
    assert [(c.series, c.step) for c in got] == [("l2", s) for s in STEPS] + \
        [("none", s) for s in STEPS]
    man = tmp_path / "ckpts.toml"
    man.write_text("".join(f'[[checkpoint]]\npath = "{p.relative_to(tmp_path)}"\nstep = {10 * i}\n'
                           f'series = "run"\n' for i, p in enumerate(reversed(a))))
    got = discover([str(man)])
    assert [Path(c.path) for c in got] == list(reversed(a)) and [c.step for c in got] == [0, 10, 20]
    (tmp_path / "nostep").mkdir()
    (tmp_path / "nostep" / "final.onnx").write_bytes(b.pop().read_bytes())
    for items, msg in [([str(tmp_path / "nostep")], "cannot tell the training step"),
                       ([str(tmp_path / "nothing*.onnx")], "no ONNX checkpoint matches"),
                       ([str(tmp_path / "missing.onnx")], "no ONNX checkpoint matches")]:
        with pytest.raises(LipcError, match=msg):
            discover(items)
    man.write_text(f'[[checkpoint]]\npath = "{a[0]}"\nstep = 1\n[[checkpoint]]\n'
                   f'path = "{a[1]}"\nstep = 1\n')
    with pytest.raises(LipcError, match="step 1 of series"):
        discover([str(man)])
    man.write_text('[[checkpoint]]\npath = "gone.onnx"\n')
    with pytest.raises(LipcError, match="not found"):
        discover([str(man)])
    (tmp_path / "x").mkdir()                 # x/none and none: two runs with one folder name
    (tmp_path / "x" / "none").mkdir()
    (tmp_path / "x" / "none" / "epoch_5.onnx").write_bytes(a[0].read_bytes())
    got = discover([str(tmp_path / "none"), str(tmp_path / "x" / "none")])
    assert len({c.series for c in got}) == 2 and len(got) == len(STEPS) + 1


def test_question_errors_once_and_error_rows_are_retried(run, tmp_path, capsys, monkeypatch):
    tmp, paths, q, _ = run
    ck = [Checkpoint(str(p), s, "s") for p, s in zip(paths, STEPS)]
    with pytest.raises(LipcError, match="unknown method bogus"):
        track(ck, q, ["bogus"], tmp_path / "o")
    for bad, msg in [(Tracking(Question("box:0:1")), "output"),            # 2 outputs: which?
                     (Tracking(Question("box:0:1:2", output="0")), "domain"),
                     (Tracking(Question("box:0:1", output="0", input_norm="l3")), "norm"),
                     (Tracking(Question("box:0:1", output="0"), solver="nope"), "solver")]:
        with pytest.raises(LipcError, match=msg):
            track(ck, bad, ["lipmip", "fastlip"], tmp_path / "o")
    assert main(["track", str(tmp / "plain"), "-d", "box:0:1", "-o", str(tmp_path / "c")]) == 2
    assert capsys.readouterr().err.count("lipc: error:") == 1
    real = api.estimate

    def flaky(net, domain, *, method, **k):             # one method fails on every checkpoint
        if method == "fastlip":
            raise LipcError("fastlip: something missing")
        return real(net, domain, method=method, **k)
    monkeypatch.setattr(api, "estimate", flaky)
    rep = track(ck, q, ["fastlip", "naiveub", "naiveub"], tmp_path / "o")
    assert [r["method"] for r in rep.rows] == ["fastlip", "naiveub"] * len(STEPS)
    assert all(r["status"] == "error" and "missing" in r["message"]
               for r in rep.rows if r["method"] == "fastlip")
    monkeypatch.setattr(api, "estimate", real)
    again = track(ck, q, ["fastlip", "naiveub"], tmp_path / "o")
    assert again.computed == len(STEPS) and again.reused == len(STEPS)
    assert all(r["status"] == "ok" for r in again.rows)


def test_resume_notices_a_changed_domain_file(run, tmp_path):
    tmp, paths, _, _ = run
    ck = [Checkpoint(str(paths[-1]), STEPS[-1], "s")]
    np.save(tmp_path / "hi.npy", np.ones(3))
    q = Tracking(Question(f"box:0:{tmp_path / 'hi.npy'}", output="0-1"))
    first = track(ck, q, ["fastlip"], tmp_path / "o").rows[0]["value"]
    np.save(tmp_path / "hi.npy", np.full(3, 0.1))
    rep = track(ck, q, ["fastlip"], tmp_path / "o")
    assert rep.computed == 1 and rep.rows[0]["value"] != first
    assert rep.rows[0]["value"] == api.estimate(str(paths[-1]), q.question,
                                                method="fastlip").value


def test_dask_cluster_gives_the_same_rows(run, tmp_path):
    distributed = pytest.importorskip("distributed")
    tmp, _, q, rep = run
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        got = track(discover([str(tmp / "plain")]), q, METHODS, tmp_path / "o",
                    Parallelism(scheduler=cluster.scheduler_address))
    assert got.computed == len(rep.rows)
    for a, b in zip(got.rows, rep.rows):
        assert (a["step"], a["method"], a["status"]) == (b["step"], b["method"], b["status"])
        assert a["value"] == pytest.approx(b["value"], rel=1e-9, abs=1e-12)


def test_figure1_example_is_reproducible(tmp_path, monkeypatch):
    """The committed Figure 1 checkpoints come out of the seeded training again, and a
    committed row is what lipc estimate says about its checkpoint."""
    here = Path(__file__).resolve().parent.parent / "examples" / "training"
    monkeypatch.syspath_prepend(str(here))
    import figure1
    figure1.train_run(tmp_path / "none", [25, 600], **figure1.SCHEMES["none"])
    import onnx
    from onnx import numpy_helper
    for name in ("epoch_0025.onnx", "epoch_0600.onnx"):      # to rounding: BLAS may differ
        new, old = (onnx.load(str(d / name)).graph.initializer
                    for d in (tmp_path / "none", here / "checkpoints" / "none"))
        for a, b in zip(new, old):
            np.testing.assert_allclose(numpy_helper.to_array(a), numpy_helper.to_array(b),
                                       rtol=1e-6, atol=1e-9)
    rows = read_rows(here / "results" / "left" / "track.csv")
    row = next(r for r in rows if r["method"] == "fastlip" and r["step"] == 600)
    est = api.estimate(str(here / row["checkpoint"]), "box:0:1", method="fastlip", output="0-1")
    assert row["value"] == est.value
