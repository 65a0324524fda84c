"""The ONNX importer: exported files load, and the IR computes exactly what the model computes."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import lipc
from lipc.core.interpret import evaluate
from lipc.core.ir import Affine, Conditional, Switch
from lipc.frontends.onnx.writer import onnx_mlp, random_mlp

ort = pytest.importorskip("onnxruntime")

EXPORTED = ["toy_2_8_8_1.onnx", "toy_2_8_8_1_dynbatch.onnx", "classifier_4_16_16_3.onnx",
            "classifier_4_16_16_3_dynamo.onnx", "classifier_4_16_16_3_dynamo_dynbatch.onnx",
            "mlp_10_20_30_20_2.onnx"]


def run_ort(path, X, in_shape):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.stack([sess.run(None, {name: x.reshape(in_shape).astype(np.float32)})[0].ravel()
                     for x in X]).astype(np.float64)


def ir_outputs(net, X):
    return evaluate(net.graph, {net.input: X.T}, [net.output])[net.output].T


@pytest.mark.parametrize("name", EXPORTED)
def test_torch_exports_load_and_agree(examples, name):
    net = lipc.load(examples / name)
    X = np.random.default_rng(0).uniform(-1, 2, (20, net.n_inputs))
    ir = ir_outputs(net, X)
    assert np.allclose(ir, net.reference(X), rtol=0, atol=1e-12)      # float64 reference
    assert np.allclose(ir, run_ort(examples / name, X, net.input_shape), atol=1e-5)  # float32
    kinds = [type(net.graph.op(n)) for n in net.graph.topo()]
    assert kinds.count(Switch) == kinds.count(Conditional) >= 1


def test_both_exporters_give_the_same_lipschitz_constant(examples):
    a = lipc.solve(examples / "classifier_4_16_16_3.onnx", "linf:0.5:0.25", output="0-2",
                   input_norm="l1")
    b = lipc.solve(examples / "classifier_4_16_16_3_dynamo.onnx", "linf:0.5:0.25", output="0-2",
                   input_norm="l1")
    assert a.status == b.status == "optimal"
    assert a.value == pytest.approx(b.value, rel=1e-12)


def _model(nodes, inits, d, m, in_shape=None):
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape or [1, d])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, m])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_reshape_flatten_identity_constant_sub_and_residual(tmp_path):
    """Input normalisation (Sub), a Constant shape, Reshape, Flatten, Identity, MatMul + Add,
    and a residual Add of two input-dependent tensors."""
    rng = np.random.default_rng(3)
    W1 = rng.normal(size=(6, 6)).astype(np.float32)
    W2 = rng.normal(size=(6, 2)).astype(np.float32)
    inits = {"mean": rng.normal(size=(1, 2, 3)).astype(np.float32), "W1": W1, "W2": W2,
             "b1": rng.normal(size=6).astype(np.float32)}
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["xs"], name="normalise"),
        helper.make_node("Constant", [], ["shape"], name="shape",
                         value=numpy_helper.from_array(np.array([1, 6], np.int64))),
        helper.make_node("Reshape", ["xs", "shape"], ["xr"], name="reshape"),
        helper.make_node("Identity", ["xr"], ["xi"], name="id"),
        helper.make_node("MatMul", ["xi", "W1"], ["h0"], name="mm1"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="add1"),
        helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
        helper.make_node("Add", ["r1", "xi"], ["res"], name="residual"),
        helper.make_node("Flatten", ["res"], ["f"], name="flat", axis=1),
        helper.make_node("MatMul", ["f", "W2"], ["y"], name="mm2"),
    ]
    p = tmp_path / "m.onnx"
    onnx.save(_model(nodes, inits, 6, 2, in_shape=[1, 2, 3]), str(p))
    net = lipc.load(p)
    assert net.n_inputs == 6 and net.input_shape == (1, 2, 3)
    X = rng.uniform(-2, 2, (25, 6))
    assert np.allclose(ir_outputs(net, X), run_ort(p, X, (1, 2, 3)), atol=1e-4)
    assert np.allclose(ir_outputs(net, X), net.reference(X), atol=1e-12)
    # MatMul + Add became one affine node
    labels = [net.graph.label(n) for n in net.graph.topo()]
    assert "mm1 + add1" in labels


@pytest.mark.parametrize("style", ["gemm", "gemm_t", "matmul"])
def test_gemm_attributes_and_matmul(tmp_path, style):
    Ws, bs = random_mlp(np.random.default_rng(4), [5, 7, 3])
    p = tmp_path / f"{style}.onnx"
    onnx.save(onnx_mlp(Ws, bs, style=style), str(p))
    net = lipc.load(p)
    X = np.random.default_rng(5).uniform(-1, 1, (10, 5))
    want = np.stack([Ws[1] @ np.maximum(Ws[0] @ x + bs[0], 0) + bs[1] for x in X])
    assert np.allclose(ir_outputs(net, X), want, atol=1e-12)
    assert sum(isinstance(net.graph.op(n), Affine) for n in net.graph.topo()) == 2


def test_gemm_with_transposed_input(tmp_path):
    """Gemm(A=W, B=x^T, transB=1): the input on the right-hand side."""
    W = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    nodes = [helper.make_node("Gemm", ["W", "x"], ["yt"], transB=1, name="g"),
             helper.make_node("Flatten", ["yt"], ["y"], axis=0, name="f")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
                          [numpy_helper.from_array(W, "W")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    p = tmp_path / "t.onnx"
    onnx.save(m, str(p))
    net = lipc.load(p)
    X = np.random.default_rng(6).normal(size=(4, 3))
    assert np.allclose(ir_outputs(net, X), X @ W.T.astype(float), atol=1e-12)


def test_float64_models_load(tmp_path):
    Ws, bs = random_mlp(np.random.default_rng(7), [3, 4, 1])
    p = tmp_path / "d.onnx"
    onnx.save(onnx_mlp(Ws, bs, dtype=np.float64), str(p))
    res = lipc.solve(p, "box:0:1", output=None, input_norm="linf")
    assert res.status == "optimal"
