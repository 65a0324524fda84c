"""Exact Lipschitz constants of PyTorch-exported CNN, residual and normalised LeakyReLU networks
against the brute-force oracle, through a flattening of their ReLU structure to dense layers
(checked against onnxruntime before it is trusted)."""
import numpy as np
import pytest

import lipc
from lipc.question.domain import Domain
from flatten import flatten_mlp, mlp_forward
from oracle import lipschitz_many

ort = pytest.importorskip("onnxruntime")

CASES = [   # file, radius of an l_inf ball around a random centre in [0,1]^d, output functional
    ("cnn_bn_maxpool_1x8x8.onnx", 0.004, "0-2"),
    ("residual_6_8_3.onnx", 0.3, "1-0"),
    ("normalised_leaky_4_10_3.onnx", 0.1, "2"),
]


@pytest.mark.parametrize("name, radius, output", CASES)
def test_exported_networks_match_oracle(examples, name, radius, output):
    net = lipc.load(examples / name)
    d = net.n_inputs
    centre = np.random.default_rng(1).uniform(0, 1, d)   # not constant: no ties between taps
    lo, hi = centre - radius, centre + radius
    Ws, bs = flatten_mlp(net, lo)
    sess = ort.InferenceSession(str(examples / name), providers=["CPUExecutionProvider"])
    X = np.random.default_rng(0).uniform(lo, hi, (20, d))
    want = np.stack([sess.run(None, {"x": x.reshape(net.input_shape).astype(np.float32)})[0].ravel()
                     for x in X])
    flat = np.stack([mlp_forward(Ws, bs, x) for x in X])
    assert np.allclose(flat, want, atol=1e-5)
    assert np.allclose(flat, net.reference(X), atol=1e-10)
    c = lipc.question.query.parse_output(output, net.n_outputs)
    exact = lipschitz_many(Ws, bs, lo, hi, queries=[(c, "inf"), (c, "1")])
    for norm, want_value in zip(["linf", "l1"], exact):
        res = lipc.solve(net, Domain(lo, hi), output=output, input_norm=norm)
        assert res.status == "optimal"
        assert res.value == pytest.approx(want_value, rel=1e-6)


def test_vnnlib_region_matches_oracle(examples, tmp_path):
    from lipc.question.vnnlib import read_vnnlib
    from lipc.frontends.onnx.writer import random_mlp, save_mlp
    lo, hi, A, b = read_vnnlib(examples / "classifier_region.vnnlib", 4)
    assert np.allclose(lo, 0.4) and np.allclose(hi, 0.6)
    assert np.allclose(A, [[1, 1, -1, 0]]) and np.allclose(b, [0.65])
    Ws, bs = random_mlp(np.random.default_rng(5), [4, 10, 8, 3])
    net = save_mlp(tmp_path / "n.onnx", Ws, bs)
    res = lipc.solve(net, f"vnnlib:{examples / 'classifier_region.vnnlib'}", output="0-1",
                     input_norm="linf")
    want = lipschitz_many(Ws, bs, lo, hi, A, b, queries=[(np.array([1.0, -1, 0]), "inf")])[0]
    assert res.value == pytest.approx(want, rel=1e-6)
    x = np.array(res.witness.x)
    assert A @ x <= b + 1e-9


def test_vnnlib_disjunction_and_bad_files(tmp_path):
    from lipc.question.vnnlib import read_vnnlib
    p = tmp_path / "p.vnnlib"
    p.write_text("(declare-const X_0 Real)\n(assert (or (and (<= X_0 1) (>= X_0 0)) "
                 "(and (<= X_0 3) (>= X_0 2))))\n")
    with pytest.raises(lipc.DomainError, match="disjunction"):
        read_vnnlib(p, 1)
    with pytest.raises(lipc.DomainError, match="2 inputs"):
        read_vnnlib(p, 2)
    p.write_text("(declare-const X_0 Real)\n(assert (<= X_0 1)\n")
    with pytest.raises(lipc.DomainError, match="unbalanced"):
        read_vnnlib(p, 1)
