"""Bad input gives one clear line on stderr and exit status 2, never a traceback or a number."""
import numpy as np
import onnx
import pytest
from onnx import helper

from lipc.cli.main import main
from lipc.frontends.onnx.writer import onnx_mlp, random_mlp, save_mlp


@pytest.fixture
def net(tmp_path):
    Ws, bs = random_mlp(np.random.default_rng(0), [3, 5, 2])
    return save_mlp(tmp_path / "net.onnx", Ws, bs)


def run_error(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("lipc: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_sigmoid_is_refused_with_node_name(tmp_path, capsys):
    Ws, bs = random_mlp(np.random.default_rng(1), [3, 4, 4, 1])
    p = tmp_path / "sig.onnx"
    onnx.save(onnx_mlp(Ws, bs, activation="Sigmoid"), str(p))
    err = run_error(capsys, ["solve", str(p), "--domain", "box:0:1"])
    assert "'Sigmoid' at node 'sigmoid0'" in err and "'sigmoid1'" in err
    assert "not piecewise linear" in err and "Relu" in err


def test_unsupported_operator_lists_supported(tmp_path, capsys):
    Ws, bs = random_mlp(np.random.default_rng(1), [3, 4, 1])
    m = onnx_mlp(Ws, bs)
    m.graph.node[0].input[0] = "xr"
    m.graph.node.insert(0, helper.make_node("Round", ["x"], ["xr"], name="myround"))
    p = tmp_path / "conv.onnx"
    onnx.save(m, str(p))
    err = run_error(capsys, ["compile", str(p), "--domain", "box:0:1", "-o", str(tmp_path / "o.mps")])
    assert "'Round' at node 'myround'" in err and "Gemm" in err
    assert not (tmp_path / "o.mps").exists()


def test_nan_weight(tmp_path, capsys):
    Ws, bs = random_mlp(np.random.default_rng(2), [3, 4, 1])
    Ws[0][1, 2] = np.nan
    p = save_mlp(tmp_path / "nan.onnx", Ws, bs)
    assert "NaN" in run_error(capsys, ["solve", str(p), "--domain", "box:0:1"])


@pytest.mark.parametrize("domain, needle", [
    ("box:1:0", "empty"),
    ("box:0:inf", "unbounded"),
    ("box:0,0:1,1", "3 inputs"),
    ("box:0.5:0.5", "empty interior"),
    ("linf:0.5:-1", "radius"),
    ("linf:0.5,0.5:0.1", "3 inputs"),
    ("linf:0.5:0.2:0.9:1", "empty"),
    ("ball", "unknown domain"),
    ("box:a:b", "not a number"),
    ("l1:0.5:x", "radius must be a number"),
    ("polytope:A.npy", "polytope:A.npy,b.npy"),
    ("polytope:nofile.npy,b.npy", "file not found"),
    ("box:missing.npy:1", "file not found"),
    ("box:0:1e300", "beyond what MIP solvers accept"),
])
def test_bad_domains(net, capsys, domain, needle):
    assert needle in run_error(capsys, ["solve", str(net), "--domain", domain, "--output", "0"])


@pytest.mark.parametrize("args, needle", [
    (["--output", "7"], "out of range"),
    ([], "choose a scalar function"),
    (["--output", "1,2,3"], "3 weights"),
    (["--output", "0-0"], "identically zero"),
    (["--output", "0", "--input-norm", "l2"], "no exact MIP encoding"),
    (["--output", "0", "--input-norm", "l7"], "unknown input norm"),
    (["--output-norm", "l2"], "no exact MIP encoding"),
    (["--output-norm", "margin:9"], "out of range"),
    (["--output-norm", "linf", "--output", "0"], "not both"),
    (["--output-norm", "lmax"], "unknown output norm"),
    (["--output", "0", "--input-norm", "linf:1,-1,2"], "positive"),
    (["--output", "0", "--input-norm", "linf:1,2"], "expects 2 inputs"),
    (["--output", "0", "--input-norm", "custom:nope.npy"], "file not found"),
])
def test_bad_queries(net, capsys, args, needle):
    assert needle in run_error(capsys, ["solve", str(net), "--domain", "box:0:1"] + args)


def test_missing_and_corrupt_model(tmp_path, capsys):
    assert "not found" in run_error(capsys, ["solve", str(tmp_path / "no.onnx"), "-d", "box:0:1"])
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    assert "cannot read" in run_error(capsys, ["show", str(bad)])
    txt = tmp_path / "net.txt"
    txt.write_text("x")
    assert "unknown model format" in run_error(capsys, ["show", str(txt)])


def test_unknown_output_suffix_leaves_no_file(net, tmp_path, capsys):
    out = tmp_path / "model.xyz"
    run_error(capsys, ["compile", str(net), "-d", "box:0:1", "-y", "0", "-o", str(out)])
    assert list(tmp_path.iterdir()) == [net]
