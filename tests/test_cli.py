"""The command line end to end: solve (text and JSON), compile, show."""
import json

import numpy as np
import pytest

from lipc.cli.main import main


def test_solve_json_has_interval_and_verified_witness(examples, capsys):
    rc = main(["solve", str(examples / "classifier_4_16_16_3.onnx"), "--domain",
               f"linf:{examples / 'x0_4.npy'}:0.1", "--output", "0-1", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "optimal"
    assert out["lower"] == out["value"] <= out["upper"] <= out["value"] * (1 + 1e-6)
    w = out["witness"]
    assert w["value"] == out["value"] and len(w["x"]) == 4 and w["radius"] > 0
    assert np.sum(np.abs(w["gradient"])) == pytest.approx(out["value"])
    x = np.array(w["x"])
    assert np.all(np.abs(x - 0.5) <= 0.1)


def test_solve_text_and_norm_spellings(examples, capsys):
    args = ["solve", str(examples / "toy_2_8_8_1.onnx"), "-d", "box:0:1"]
    assert main(args + ["--input-norm", "l1"]) == 0
    a = capsys.readouterr().out
    assert main(args + ["--norm", "L_1", "-q"]) == 0
    b = capsys.readouterr().out
    assert "status     optimal" in a and a.splitlines()[3] == b.splitlines()[3]


def test_time_limit_reports_an_interval(examples, capsys):
    rc = main(["solve", str(examples / "mlp_10_20_30_20_2.onnx"), "-d", "box:0:1", "-y", "0-1",
               "--time-limit", "1", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    if out["status"] == "time_limit":
        assert out["value"] is None
        assert out["upper"] >= out["incumbent"]
        if out["lower"] is not None:
            assert out["lower"] <= out["upper"]


def test_show_lists_nodes_bounds_and_unstable_counts(examples, capsys):
    assert main(["show", str(examples / "toy_2_8_8_1.onnx"), "-d", "box:0:1"]) == 0
    out = capsys.readouterr().out
    assert "unstable conditionals" in out and "backward" in out and "switch" in out
    assert main(["show", str(examples / "classifier_4_16_16_3.onnx")]) == 0
    out = capsys.readouterr().out
    kinds = [line.split()[1] for line in out.splitlines()[1:]]
    assert kinds.count("cond") == kinds.count("switch") == 2 and "/1/Gemm" in out
