"""Estimators (issue 6): the paper's ordering randomlb <= lipmip <= liplp <= fastlip and
naiveub >= lipmip on random small nets, for both input norms; `lipc estimate` / `lipc compare`."""
import csv
import io
import json

import numpy as np
import pytest

import lipc
from lipc.cli.main import main
from lipc.estimators import ESTIMATORS
from lipc.frontends.onnx.writer import random_mlp, save_mlp

NETS = [([3, 8, 8, 2], 0, "box:-1:1", None, "linf"),
        ([4, 10, 6, 3], 1, "linf:0.2,0.1,0,-0.3:0.5", "0-1", None),
        ([2, 12, 1], 2, "l1:0.1,0.1:0.6", None, None),
        ([3, 6, 6, 6, 2], 3, "box:0:1", None, "margin")]
REL = 1e-7


def _le(a, b):
    return a <= b + REL * max(abs(a), abs(b), 1.0)


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("est")
    out = []
    for sizes, seed, dom, output, onorm in NETS:
        Ws, bs = random_mlp(np.random.default_rng(100 + seed), sizes)
        out.append((save_mlp(d / f"net{seed}.onnx", Ws, bs), dom, output, onorm))
    return out


@pytest.mark.parametrize("k", range(len(NETS)))
@pytest.mark.parametrize("input_norm", ["linf", "l1"])
def test_estimator_ordering(nets, k, input_norm):
    path, dom, output, onorm = nets[k]
    res = lipc.api.compare(path, dom, output=output, input_norm=input_norm, output_norm=onorm,
                           samples=300, options=lipc.SolveOptions(solver="highs"))
    v = {r["method"]: r["value"] for r in res.rows}
    assert set(v) == set(ESTIMATORS)
    assert res.exact is not None and res.exact == v["lipmip"]
    assert _le(v["randomlb"], v["lipmip"])
    assert _le(v["lipmip"], v["liplp"])
    assert _le(v["liplp"], v["fastlip"])
    assert _le(v["lipmip"], v["naiveub"])
    g = {r["method"]: r["guarantee"] for r in res.rows}
    assert _le(v["lipmip"], v["lipsdp"])          # sqrt(d) * L2 (linf) or L2 (l1) bounds it
    for m in ("clever", "seqlip"):
        assert np.isfinite(v[m]) and v[m] > 0
    assert g == {"randomlb": "lower", "lipmip": "exact", "liplp": "upper", "fastlip": "upper",
                 "naiveub": "upper", "clever": "heuristic", "seqlip": "heuristic",
                 "lipsdp": "upper"}


def test_naiveub_single_layer_is_exact(tmp_path):
    W = np.array([[1.0, -2.0, 0.5]])
    path = save_mlp(tmp_path / "lin.onnx", [W], [np.zeros(1)])
    for norm, want in (("linf", 3.5), ("l1", 2.0)):
        assert lipc.api.estimate(path, "box:0:1", method="naiveub", input_norm=norm).value == want


def test_unknown_method_is_a_clean_error(nets):
    path, dom, output, onorm = nets[0]
    with pytest.raises(lipc.LipcError, match="unknown estimator"):
        lipc.api.estimate(path, dom, method="nosuch", output_norm=onorm)


def test_cli_estimate_text_and_json(nets, capsys):
    path, dom, _, _ = nets[1]
    base = ["estimate", str(path), "--domain", dom, "--output", "0-1"]
    assert main(base + ["--method", "fastlip"]) == 0
    text = capsys.readouterr().out
    assert "guarantee  upper" in text and "value" in text
    assert f"compiled   bounds interval, lipc {lipc.__version__}" in text
    assert main(base + ["--method", "lipmip", "--solver", "cbc", "--formulation", "paper"]) == 0
    text = capsys.readouterr().out      # the text states what computed it, as lipc solve's does
    assert "compiled   solver cbc, formulation paper, bounds interval (interval)" in text
    assert text.rstrip().endswith(f"), lipc {lipc.__version__}")
    assert main(base + ["--method", "randomlb", "--json", "--samples", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "randomlb" and out["guarantee"] == "lower" and out["value"] > 0
    assert main(base + ["--method", "lipmip", "--json", "--input-norm", "l1"]) == 0
    exact = json.loads(capsys.readouterr().out)
    assert exact["guarantee"] == "exact" and exact["details"]["status"] == "optimal"


def test_cli_compare_table_json_csv(nets, capsys):
    path, dom, _, onorm = nets[0]
    base = ["compare", str(path), "--domain", dom, "--output-norm", onorm, "--samples", "100"]
    assert main(base) == 0
    text = capsys.readouterr().out
    for m in ESTIMATORS:
        assert m in text
    assert "exact value" in text and f"lipc       {lipc.__version__}" in text
    lipmip_row = next(line for line in text.splitlines() if line.startswith("  lipmip"))
    assert "solver " in lipmip_row and "formulation lipc, bounds auto (" in lipmip_row
    assert main(base + ["--methods", "randomlb,lipmip,fastlip", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in out["rows"]] == ["randomlb", "lipmip", "fastlip"]
    rows = {r["method"]: r for r in out["rows"]}
    assert rows["lipmip"]["relative_error"] == 0.0 and out["exact"] == rows["lipmip"]["value"]
    assert rows["randomlb"]["relative_error"] <= 1e-7 <= rows["fastlip"]["relative_error"] + 1e-7
    assert main(base + ["--methods", "naiveub,lipmip", "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["method"] for r in table] == ["naiveub", "lipmip"]
    assert float(table[0]["value"]) >= float(table[1]["value"])
    assert float(table[1]["relative_error"]) == 0.0
    assert main(base + ["--json", "--csv"]) == 2
    assert "at most one" in capsys.readouterr().err


@pytest.mark.parametrize("seed", range(3))
def test_lipsdp_bounds_the_exact_l2_and_linf_values(tmp_path, seed):
    from oracle import lipschitz_many
    rng = np.random.default_rng(200 + seed)
    sizes = [[2, 6, 2], [3, 5, 4, 2], [2, 8, 6, 3]][seed]
    Ws, bs = random_mlp(rng, sizes)
    path = save_mlp(tmp_path / "n.onnx", Ws, bs)
    c = rng.standard_normal(sizes[-1])
    d = sizes[0]
    lo, hi = -np.ones(d), np.ones(d)
    exact2, exact_inf = lipschitz_many(Ws, bs, lo, hi, queries=[(c, "2"), (c, "inf")])
    spec = ",".join(repr(float(x)) for x in c)
    res = lipc.api.estimate(path, "box:-1:1", method="lipsdp", output=spec, input_norm="linf")
    l2 = res.details["l2_value"]
    assert res.guarantee == "upper"
    assert _le(exact2, l2 * (1 + 1e-6))
    assert res.value == pytest.approx(np.sqrt(d) * l2)
    assert _le(exact_inf, res.value * (1 + 1e-6))
    l1 = lipc.api.estimate(path, "box:-1:1", method="lipsdp", output=spec, input_norm="l1")
    assert l1.value == pytest.approx(l2, rel=1e-6, abs=1e-9)


def test_clever_and_seqlip_are_finite_positive_heuristics(nets):
    path, dom, output, onorm = nets[1]
    for m in ("clever", "seqlip"):
        res = lipc.api.estimate(path, dom, method=m, output=output, samples=200)
        assert res.guarantee == "heuristic" and np.isfinite(res.value) and res.value > 0


@pytest.mark.parametrize("method,module", [("lipsdp", "cvxpy"), ("clever", "scipy.stats")])
def test_missing_extra_names_it(nets, monkeypatch, method, module):
    import sys
    monkeypatch.setitem(sys.modules, module, None)
    path, dom, output, onorm = nets[1]
    with pytest.raises(lipc.LipcError, match=r"lipc\[estimators\]"):
        lipc.api.estimate(path, dom, method=method, output=output)


def test_compare_default_list_survives_a_missing_extra(nets, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "cvxpy", None)
    path, dom, output, _ = nets[1]
    res = lipc.api.compare(path, dom, output=output, samples=50,
                           options=lipc.SolveOptions(solver="highs"))
    row = {r["method"]: r for r in res.rows}["lipsdp"]
    assert row["value"] is None and "lipc[estimators]" in row["details"]["error"]
    with pytest.raises(lipc.LipcError, match=r"lipc\[estimators\]"):
        lipc.api.compare(path, dom, methods="lipmip,lipsdp", output=output)
