"""The .lipc examples solved end to end and checked against the brute-force oracle; the CLI on
programs (solve text/JSON, --query, compile, show, network mode)."""
import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from scipy.optimize import linprog

import lipc.frontends.dsl as dsl
from lipc import api
from lipc.cli.main import main
from oracle import enumerate_region_data, forward, lipschitz_many, region_polytope

REL = 1e-6


def onnx_mlp_weights(path):
    """(weights, biases) of a Gemm/Relu MLP straight from the ONNX initializers (W is [out, in])."""
    inits = {i.name: numpy_helper.to_array(i).astype(np.float64)
             for i in onnx.load(str(path)).graph.initializer}
    Ws = [inits[k] for k in inits if k.endswith(".weight")]
    bs = [inits[k] for k in inits if k.endswith(".bias")]
    return Ws, bs


def range_oracle(Ws, bs, c, lo, hi, A=None, b=None):
    """Exact (max, min) of c . f(x) over the domain: one LP per activation region."""
    best_max, best_min = -np.inf, np.inf
    for r in enumerate_region_data(Ws, bs, lo, hi, A, b):
        g = c @ r.jacobian
        off = c @ forward(Ws, bs, r.point) - g @ r.point
        G, h, _ = region_polytope(Ws, bs, r.pattern, lo, hi, A, b)
        for sign in (1.0, -1.0):
            res = linprog(-sign * g, A_ub=G if G.size else None, b_ub=h if G.size else None,
                          bounds=list(zip(lo, hi)), method="highs")
            assert res.status == 0
            val = g @ res.x + off
            best_max, best_min = (max(best_max, val), best_min) if sign > 0 else \
                (best_max, min(best_min, val))
    return best_max, best_min


def solve_all(path):
    prog = dsl.load_program(path)
    return prog, {q.label: api.solve_query(q) for q in prog.queries}


def test_toy2d_against_oracle(examples):
    prog, res = solve_all(examples / "toy2d.lipc")
    env = prog.env
    Ws, bs = [env["W1"], env["W2"], env["W3"]], [env["b1"], env["b2"], env["b3"]]
    lo, hi = -np.ones(2), np.ones(2)
    c = np.array([1.0, -1.0])
    want_inf, want_1 = lipschitz_many(Ws, bs, lo, hi, queries=[(c, "inf"), (c, "1")])
    x0 = np.array([0.2, -0.3])
    (want_vec,) = lipschitz_many(Ws, bs, x0 - 0.25, x0 + 0.25, queries=[(None, "inf", "inf")])
    top, bottom = range_oracle(Ws, bs, np.array([1.0, 0.0]), lo, hi)
    for label, want in [("margin", want_inf), ("margin_l1", want_1), ("vector", want_vec),
                        ("top", top), ("bottom", bottom)]:
        r = res[label]
        assert r.status == "optimal", (label, r.message)
        assert r.value == pytest.approx(want, rel=REL, abs=1e-9), label
        assert r.lower <= r.upper + 1e-9 * max(1.0, abs(r.upper))
    assert res["margin"].witness.x is not None
    assert np.all(np.abs(np.array(res["vector"].witness.x) - x0) <= 0.25)


def test_classifier_margin_against_oracle(examples):
    prog, res = solve_all(examples / "classifier_margin.lipc")
    Ws, bs = onnx_mlp_weights(examples / "classifier_4_16_16_3.onnx")
    x0 = np.load(examples / "x0_4.npy")
    target = int(np.argmax(forward(Ws, bs, x0)))
    cs = [np.eye(3)[target] - np.eye(3)[j] for j in range(3) if j != target]
    want = lipschitz_many(Ws, bs, x0 - 0.1, x0 + 0.1,
                          queries=[(np.array([1.0, -1.0, 0.0]), "inf")] + [(c, "inf") for c in cs])
    assert res["m01"].value == pytest.approx(want[0], rel=REL)
    assert res["robust"].value == pytest.approx(max(want[1:]), rel=REL)
    assert prog.queries[0].network.input_shape == (1, 4)


def test_output_range_against_oracle(examples):
    prog, res = solve_all(examples / "output_range.lipc")
    Ws, bs = onnx_mlp_weights(examples / "toy_2_8_8_1.onnx")
    tri = np.load(examples / "triangle.npz")
    top, bottom = range_oracle(Ws, bs, np.ones(1), np.zeros(2), np.ones(2), tri["A"], tri["b"])
    assert res["top"].value == pytest.approx(top, rel=REL, abs=1e-9)
    assert res["bottom"].value == pytest.approx(bottom, rel=REL, abs=1e-9)
    centre = forward(Ws, bs, np.ones(2) / 3)[0]
    assert res["spread"].value == pytest.approx(max(top - centre, centre - bottom), rel=REL)
    for r in res.values():          # verified points lie in the triangle
        x = np.array(r.x)
        assert np.all(tri["A"] @ x <= tri["b"]) and r.lower <= r.upper


def test_every_example_program_loads(examples):
    for path in sorted(examples.glob("*.lipc")):
        prog = dsl.load_program(path)
        assert prog.queries and all(q.question.domain is not None for q in prog.queries), path


# ---------------------------------------------------------------------- command line

def test_cli_solve_runs_each_query_in_order(examples, capsys):
    assert main(["solve", str(examples / "toy2d.lipc"), "-q"]) == 0
    out = capsys.readouterr().out
    heads = [line for line in out.splitlines() if line.startswith("query ")]
    assert [h.split()[2].rstrip(":") for h in heads] == ["margin", "margin_l1", "vector", "top",
                                                         "bottom"]
    assert out.count("status     optimal") == 5 and "maximum of y[0]" in out


def test_cli_json_one_and_several(examples, capsys):
    assert main(["solve", str(examples / "toy2d.lipc"), "--query", "margin", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["query"] == "margin" and one["status"] == "optimal" and one["witness"]["x"]
    assert main(["solve", str(examples / "toy2d.lipc"), "--query", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["query"] == "bottom"
    assert main(["solve", str(examples / "output_range.lipc"), "--json"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert [d["query"] for d in docs] == ["top", "bottom", "spread"]
    assert docs[0]["sense"] == "maximize" and docs[0]["lower"] == docs[0]["value"]


def test_cli_compile_needs_one_query(examples, tmp_path, capsys):
    out = tmp_path / "m.mps"
    assert main(["compile", str(examples / "toy2d.lipc"), "-o", str(out)]) == 2
    assert "--query" in capsys.readouterr().err and not out.exists()
    assert main(["compile", str(examples / "toy2d.lipc"), "--query", "margin", "-o", str(out)]) == 0
    assert out.exists() and "Lipschitz" in capsys.readouterr().out
    lp = tmp_path / "r.lp"
    assert main(["compile", str(examples / "toy2d.lipc"), "--query", "top", "-o", str(lp)]) == 0
    assert lp.exists() and "maximum of y[0]" in capsys.readouterr().out


def test_written_range_file_has_the_range_as_optimum(examples, tmp_path):
    import highspy
    prog = dsl.load_program(examples / "toy2d.lipc")
    top, bottom = (api.solve_query(prog.query(k)).value for k in ("top", "bottom"))
    for key, want in (("top", -top), ("bottom", bottom)):      # files minimise
        path = tmp_path / f"{key}.mps"
        api.compile_query(prog.query(key), out=path)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.readModel(str(path))
        h.run()
        assert h.getInfo().objective_function_value == pytest.approx(want, rel=1e-7)


def test_cli_program_as_network_and_domain_override(examples, capsys):
    toy = str(examples / "toy2d.lipc")
    assert main(["solve", toy, "--output", "0-1", "--json"]) == 0         # network mode
    net_mode = json.loads(capsys.readouterr().out)
    assert main(["solve", toy, "--query", "margin", "--json"]) == 0
    assert net_mode["value"] == pytest.approx(json.loads(capsys.readouterr().out)["value"])
    assert main(["solve", toy, "--query", "margin", "-d", "box:0:0.5", "--json"]) == 0
    small = json.loads(capsys.readouterr().out)
    assert small["domain"].startswith("box") and small["value"] <= net_mode["value"]
    assert main(["show", toy]) == 0 and "switch" in capsys.readouterr().out
    assert main(["show", toy, "--query", "margin"]) == 0
    assert "backward" in capsys.readouterr().out


def test_cli_show_dsl_round_trips(examples, tmp_path, capsys):
    assert main(["show", str(examples / "classifier_4_16_16_3.onnx"), "--dsl"]) == 0
    text = capsys.readouterr().out
    prog = tmp_path / "c.lipc"
    prog.write_text(text + "lipschitz y01: a3[0] - a3[1] over box(0, 1)\n")
    assert main(["solve", str(prog), "--json"]) == 0
    a = json.loads(capsys.readouterr().out)["value"]
    assert main(["solve", str(examples / "classifier_4_16_16_3.onnx"), "-d", "box:0:1", "-y",
                 "0-1", "--json"]) == 0
    assert a == pytest.approx(json.loads(capsys.readouterr().out)["value"], rel=1e-9)


def test_cli_errors(examples, tmp_path, capsys):
    bad = tmp_path / "bad.lipc"
    bad.write_text("input x[2] in box(0, 1)\ny = relu(x @ )\n")
    assert main(["solve", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lipc: error: {bad}:2:14: syntax error") and "^" in err
    bad.write_text("input x[2]\nlipschitz x[0] - x[1]\n")
    assert main(["solve", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no domain" in err and "--domain" in err and "\n" not in err
    assert main(["solve", str(bad), "-d", "box:0:1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == pytest.approx(2.0, rel=1e-9)
    assert main(["solve", str(examples / "toy2d.lipc"), "--query", "nope"]) == 2
    assert "margin_l1" in capsys.readouterr().err
    with pytest.raises(SystemExit):                     # --domain stays required for ONNX
        main(["solve", str(examples / "toy_2_8_8_1.onnx")])
    assert "--domain" in capsys.readouterr().err
