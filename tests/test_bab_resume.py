"""Stopping and resuming branch and bound (lipc.bab.checkpoint), and its open nodes exported as a
MIP library (lipc.bab.export), against the brute-force oracle.

The net is test_bab's deeper case with a hand-off threshold of 5 binaries: 7 nodes to the
proof, in batches of 4, so a node limit of 3 stops with bounded open nodes and one of 5 stops in
the middle of a batch (two children waiting, with their parent's bound).
"""
import csv
import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

import lipc
from lipc.bab import search as bab_search
from lipc.bab.checkpoint import FORMAT, CheckpointError
from lipc.cli.main import main
from lipc.errors import LipcError
from lipc.studies.bench.resolve import resolve
from test_bab import BRANCHY, _case


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    net, spec, norm, dom, want = _case(tmp, "l1", "box", "margin", hidden=(8, 8, 6))
    full = _solve(net, spec, norm)
    assert full.status == "optimal" and full.value == pytest.approx(want, rel=1e-9)
    assert full.stats["bab"]["nodes"] == 7
    return net, spec, norm, want, full


def _solve(net, spec, norm, **bab):
    return lipc.solve(net, spec, input_norm=norm, output_norm="margin", engine="bab",
                      bab=replace(BRANCHY, **bab))


def _sound(res, want):
    assert res.lower <= want * (1 + 1e-9) and res.upper >= want * (1 - 1e-9)


def _same(a, b):
    assert (a.status, a.value, a.lower, a.upper) == (b.status, b.value, b.lower, b.upper)
    assert a.stats["bab"]["nodes"] == b.stats["bab"]["nodes"]


def test_stopped_twice_and_resumed_ends_like_the_uninterrupted_run(case, tmp_path):
    net, spec, norm, want, full = case
    ck = str(tmp_path / "run.ckpt")
    a = _solve(net, spec, norm, node_limit=3, checkpoint=ck)
    assert a.status == "node_limit" and a.stats["bab"]["open"] == 2
    _sound(a, want)
    body = _json(Path(ck).read_text(), ck)
    assert body["format"] == FORMAT and body["nodes"] == 3 and len(body["open"]) == 2
    b = _solve(net, spec, norm, node_limit=5, resume=ck)           # stops inside a batch
    assert b.status == "node_limit" and b.stats["bab"]["nodes"] == 5
    assert len(_json(Path(ck).read_text(), ck)["pending"]) == 2          # waiting, not lost
    _sound(b, want)
    c = _solve(net, spec, norm, resume=ck)
    _same(c, full)
    assert c.value == pytest.approx(want, rel=1e-9)


def test_an_interrupted_run_resumes_from_its_last_batch(case, tmp_path, monkeypatch):
    net, spec, norm, want, full = case
    ck = str(tmp_path / "run.ckpt")
    calls = []

    class InterruptedThirdBatch(bab_search.Pool):
        def run(self, *a, **k):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt              # as lipc.util.stopping turns SIGINT
            return super().run(*a, **k)

    monkeypatch.setattr(bab_search, "Pool", InterruptedThirdBatch)
    a = _solve(net, spec, norm, checkpoint=ck)
    monkeypatch.undo()
    assert a.status == "interrupted" and a.value is None
    _sound(a, want)
    assert _json(Path(ck).read_text(), ck)["nodes"] == 3                 # the batch before
    _same(_solve(net, spec, norm, resume=ck), full)


def test_exported_nodes_and_the_lower_bound_give_the_constant(case, tmp_path):
    net, spec, norm, want, full = case
    lib = tmp_path / "nodes"
    a = _solve(net, spec, norm, node_limit=3, export_nodes=str(lib))
    rep = resolve(lib, "highs")
    names = [r["name"] for r in rep.rows]
    assert names == ["node_0", "node_1"] and rep.ok
    assert all(r["status"] == "opt" for r in rep.rows)
    table = list(csv.DictReader(open(lib / "bab-nodes.csv")))
    uppers = {r["name"]: float(r["upper"]) for r in table}
    unit = float(table[0]["unit"])          # the run's normalisation: 2**k, exact
    for r in rep.rows:                     # each node's optimum under its certified bound
        assert -r["got"] <= uppers[r["name"]] * (1 + 1e-9)
    # the primal side found the maximiser already: it lies in node_0, whose optimum is the
    # constant on its own; after 5 nodes (below) no open node reaches it and the lower bound does
    nodes_max = unit * max(-r["got"] for r in rep.rows)
    assert nodes_max == pytest.approx(want, rel=1e-7)
    assert max(a.lower, nodes_max) == pytest.approx(want, rel=1e-7)
    assert (lib / ".lipc-owned").is_file() and "max(lower bound" in (lib / "README.md").read_text()
    # exported again after the run went on: the old nodes are pruned, the new ones written
    b = _solve(net, spec, norm, node_limit=5, export_nodes=str(lib))
    files = sorted(p.name for p in (lib / "instances").iterdir())
    listed = [r["name"] for r in csv.DictReader(open(lib / "bab-nodes.csv"))]
    assert files == sorted(f"{n}.mps.gz" for n in listed) and len(files) == b.stats["bab"]["open"]
    assert "node_0.mps.gz" not in files and "node_1.mps.gz" not in files    # split since
    got = [-unit * r["got"] for r in resolve(lib, "highs").rows]
    assert max([b.lower] + got) == pytest.approx(want, rel=1e-7)


def test_a_checkpoint_of_another_question_or_a_foreign_file_is_refused(case, tmp_path):
    net, spec, norm, want, full = case
    ck = tmp_path / "run.ckpt"
    _solve(net, spec, norm, node_limit=1, checkpoint=str(ck))
    kept = ck.read_bytes()
    with pytest.raises(CheckpointError, match="another model, question"):
        lipc.solve(net, spec, input_norm="linf", output_norm="margin", engine="bab",
                   bab=replace(BRANCHY, resume=str(ck)))
    with pytest.raises(CheckpointError, match="another model, question"):
        _solve(net, spec, norm, resume=str(ck), batch=2)            # another tree
    with pytest.raises(CheckpointError, match="another model, question"):
        lipc.solve(net, spec, input_norm="linf", output_norm="margin", engine="bab",
                   bab=replace(BRANCHY, checkpoint=str(ck)))        # would clobber that run
    with pytest.raises(CheckpointError, match="continue it with --resume"):
        _solve(net, spec, norm, checkpoint=str(ck))                  # ... even this one
    assert ck.read_bytes() == kept
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes\n")
    with pytest.raises(CheckpointError, match="not a lipc checkpoint"):
        _solve(net, spec, norm, checkpoint=str(mine))
    with pytest.raises(CheckpointError, match="no such file"):
        _solve(net, spec, norm, resume=str(tmp_path / "missing.ckpt"))
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "mine.txt").write_text("x")
    with pytest.raises(LipcError, match="lipc did not write"):
        _solve(net, spec, norm, node_limit=1, export_nodes=str(tmp_path / "lib"))
    assert mine.read_text() == "my notes\n" and (tmp_path / "lib" / "mine.txt").read_text() == "x"


ROOT = Path(__file__).resolve().parents[1]
NET = str(ROOT / "examples" / "mlp_10_20_30_20_2.onnx")
BALL = f"linf:{ROOT / 'examples' / 'x0_10.npy'}:0.2"


def _nodes_in(path: Path) -> int:
    try:
        text = path.read_text()                            # atomic writes: never a torn file
    except FileNotFoundError:
        return -1
    return _json(text, f"the checkpoint {path}")["nodes"]


def _json(out: str, err: str) -> dict:
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError(f"not JSON: {out[:300]!r}; stderr {err[-500:]!r}") from None


def test_sigint_keeps_the_last_batch_and_the_run_resumes(tmp_path, capsys):
    """A real Ctrl-C (lipc.util.stopping) in the middle of a command-line run: the checkpoint
    holds the last finished batch and a resumed run goes on from it (and exports its nodes)."""
    ck = tmp_path / "c.ckpt"
    args = ["solve", NET, "-d", BALL, "-y", "0-1", "--engine", "bab",
            "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "lipc", *args, "--checkpoint", str(ck)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _nodes_in(ck) < 1:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    n = _nodes_in(ck)
    assert "Traceback" not in err and n >= 1, (n, err)
    # rc 0: stopped between two C calls, the interval printed (a Ctrl-C between the solver's
    # stdout redirect and its restore once left fd 1 on the capture pipe: exit 0, nothing printed)
    if proc.returncode == 0:
        res = _json(out, err)
        assert res["status"] == "interrupted" and res["stats"]["bab"]["nodes"] >= n, (n, res)
    else:                                     # the watchdog's hard stop (a long node solve)
        assert proc.returncode == 128 + signal.SIGINT, (proc.returncode, err)
    lib = tmp_path / "lib"
    assert main([*args, "--resume", str(ck), "--node-limit", str(n + 1),
                 "--export-nodes", str(lib)]) == 0
    res = _json(*capsys.readouterr())
    assert res["status"] == "node_limit" and res["stats"]["bab"]["nodes"] == n + 1, (n, res)
    assert _nodes_in(ck) == n + 1
    assert len(list((lib / "instances").iterdir())) == res["stats"]["bab"]["open"] > 0
    assert main(["solve", NET, "-d", BALL, "-y", "0-1",
                 "--checkpoint", str(ck)]) == 2
    assert capsys.readouterr().err.strip() == \
        "lipc: error: --checkpoint, --resume and --export-nodes need --engine bab"
