"""Issue 19: SIGTERM / SIGHUP to lipc stop every child solver and worker (none is left running),
and a kill -9 mid-write leaves a temp file that the next write to the target removes."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lipc.studies.bench.manifest import random_onnx_bytes

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parent.items() if pp == p}
        out |= kids
        todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _run_and_signal(cmd, cwd, sig, n_children):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd)
    deadline = time.monotonic() + 60
    while len(kids := _children(proc.pid)) < n_children:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(3.0)                        # the children are solving
    proc.send_signal(sig)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=30)
    waited = time.monotonic() - t0
    end = time.monotonic() + 10
    while any(_alive(k) for k in kids) and time.monotonic() < end:
        time.sleep(0.05)
    return proc.returncode, err, waited, [k for k in kids if _alive(k)]


@pytest.fixture(scope="module")
def hard(tmp_path_factory):
    """A MIP that takes far longer than the test to solve."""
    d = tmp_path_factory.mktemp("sig")
    (d / "hard.onnx").write_bytes(random_onnx_bytes("random:10-50-50-50-1:0"))
    return d


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_to_a_race_leaves_no_solver_running(hard, sig):
    pytest.importorskip("highspy")
    cmd = [sys.executable, "-m", "lipc", "solve", "hard.onnx", "--domain", "box:0:1",
           "--solver", "race:highs,cbc", "--bounds", "interval", "--quiet"]
    rc, err, waited, left = _run_and_signal(cmd, hard, sig, 2)
    assert left == [] and rc == 128 + sig and waited < 30, (rc, err)
    assert "Traceback" not in err and "lipc: interrupted" in err, err


def test_sigterm_to_a_two_worker_build_leaves_no_worker(hard):
    (hard / "m.toml").write_text('name = "m"\n[defaults]\ndomain = "box:0:1"\n'
                                 'bounds = "interval"\n[[instance]]\nname = "a"\nnetwork = "hard.onnx"\n'
                                 '[[instance]]\nname = "b"\nnetwork = "random:10-50-50-50-1:1"\n')
    cmd = [sys.executable, "-m", "lipc", "bench", "build", "m.toml", "-o", "lib", "-j", "2",
           "-t", "300", "-q"]
    rc, err, waited, left = _run_and_signal(cmd, hard, signal.SIGTERM, 2)
    assert left == [] and rc == 128 + signal.SIGTERM and waited < 30, (rc, err)
    assert "Traceback" not in err


def test_sigterm_during_a_serial_solve_stops_within_the_grace_period(hard):
    """The solver holds the main thread in C: the watchdog stops the process anyway."""
    pytest.importorskip("highspy")
    proc = subprocess.Popen([sys.executable, "-m", "lipc", "solve", "hard.onnx", "--domain",
                             "box:0:1", "--solver", "highs", "--bounds", "interval", "--quiet"],
                            cwd=hard,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(10.0)                       # loaded, compiled, in HiGHS (it runs for minutes)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM and time.monotonic() - t0 < 20, err


def test_stale_temp_of_a_killed_write_is_removed_by_the_next_write(tmp_path):
    from lipc.emit import write_bytes
    target = tmp_path / "model.mps"
    stale = tmp_path / ".model.mps.0123456789ab.tmp"        # what kill -9 mid-write leaves
    other = tmp_path / ".other.mps.0123456789ab.tmp"        # another target's: not touched
    user = tmp_path / ".model.mps.mine.tmp"                 # not lipc's name: not touched
    for f in (stale, other, user):
        f.write_bytes(b"x")
    write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and not stale.exists()
    assert other.exists() and user.exists()


def test_output_to_a_fifo_without_reader_is_an_error_not_a_hang(tmp_path):
    fifo = tmp_path / "out.mps"
    os.mkfifo(fifo)
    examples = Path(__file__).resolve().parent.parent / "examples"
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "lipc", "compile",
                        str(examples / "toy_2_8_8_1.onnx"), "--domain", "box:0:1", "-o",
                        str(fifo)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2 and time.monotonic() - t0 < 30
    assert r.stderr.startswith("lipc: error:") and r.stderr.count("\n") == 1, r.stderr
    assert "no reader" in r.stderr
