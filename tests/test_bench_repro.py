"""Reproducible libraries (issue 19): open instances get their =best= value from a node limit,
so a library built with 1 worker and with 2 workers on a loaded machine is byte-identical; a
solve stopped by the wall clock instead is tagged not-reproducible and written as =unkn=."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lipc import api
from lipc.cli.main import main
from lipc.errors import LipcError
from lipc.solvers import SolveOptions, installed
from lipc.studies.bench.build import build, read_solu, stopped_by_wall_clock
from lipc.studies.bench.manifest import generated_onnx_bytes, load_manifest
from lipc.util.ownership import LEDGER

pytest.importorskip("highspy")

# with node_limit = 1 HiGHS stops open, 0.5-1 s each; "small" is proved optimal at the root
MANIFEST = '''name = "repro"
node_limit = 1
[defaults]
domain = "box:0:1"
output_norm = "linf"
[[instance]]
name = "open1"
network = "random:3-12-12-2:1"
[[instance]]
name = "open2"
network = "random:3-16-16-2:2"
[[instance]]
name = "small"
network = "random:2-3-1:0"
'''


def _library(d: Path) -> dict[str, bytes]:
    """Every file except the run log (results/: times) and the ledger (which hashes it)."""
    return {str(f.relative_to(d)): f.read_bytes() for f in sorted(d.rglob("*"))
            if f.is_file() and "results" not in f.parts and f.name != LEDGER}


def test_open_library_is_identical_under_load_and_worker_count(tmp_path):
    man = tmp_path / "repro.toml"
    man.write_text(MANIFEST)
    build(man, tmp_path / "a", time_limit=60)           # 1 worker, the manifest's node limit
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:                                                # the other core is busy
        assert main(["bench", "build", str(man), "-o", str(tmp_path / "b"), "-j", "2",
                     "--node-limit", "1", "--time-limit", "60", "-q"]) == 0
    finally:
        busy.kill()
        busy.wait()
    a, b = _library(tmp_path / "a"), _library(tmp_path / "b")
    assert a == b
    solu = read_solu(tmp_path / "a" / "repro.solu")
    assert solu["open1"][0] == solu["open2"][0] == "best"    # the test covers open instances
    assert solu["small"][0] == "opt"
    assert b"not-reproducible" not in a["repro.csv"]


def test_wall_clock_stop_is_tagged_and_unknown(tmp_path):
    man = tmp_path / "repro.toml"
    man.write_text(MANIFEST.replace("node_limit = 1\n", ""))
    rep = build(man, tmp_path / "a", time_limit=0.05)   # no node limit: the clock stops it
    rec = {r["name"]: r for r in rep.results}
    assert rec["open2"]["solver_status"] in ("time_limit", "no_solution")
    assert rec["open2"]["solu"] == "unkn" and rec["open2"]["file_value"] is None
    assert "not-reproducible" in rec["open2"]["tags"].split(";")
    assert "not-reproducible" in (tmp_path / "a" / "README.md").read_text()


@pytest.mark.parametrize("status, nodes, limit, wall", [
    ("time_limit", 5, None, True), ("time_limit", 5, 10, True), ("no_solution", 10, 10, False),
    ("no_solution", None, 10, True), ("node_limit", 10, 10, False), ("optimal", 3, None, False),
])
def test_stopped_by_wall_clock(status, nodes, limit, wall):
    assert stopped_by_wall_clock(status, nodes, limit) is wall


@pytest.mark.parametrize("solver", installed())
def test_node_limit_status_and_interval(solver, tmp_path):
    net = tmp_path / "net.onnx"
    net.write_bytes(generated_onnx_bytes("random:3-12-12-2:1"))
    res = api.solve(net, "box:0:1", output_norm="linf",
                    options=SolveOptions(solver=solver, node_limit=1, time_limit=60))
    assert res.status == "node_limit"
    assert res.lower is not None and res.upper is not None and res.lower < res.upper


def test_manifest_node_limit_must_be_positive(tmp_path):
    man = tmp_path / "m.toml"
    man.write_text(MANIFEST.replace("node_limit = 1", "node_limit = 0"))
    with pytest.raises(LipcError, match="node_limit"):
        load_manifest(man)


def test_solve_cli_node_limit(tmp_path, capsys):
    net = tmp_path / "net.onnx"
    net.write_bytes(generated_onnx_bytes("random:3-12-12-2:1"))
    assert main(["solve", str(net), "--domain", "box:0:1", "--output-norm", "linf",
                 "--node-limit", "1", "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "node_limit"
