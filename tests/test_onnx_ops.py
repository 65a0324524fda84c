"""Every supported ONNX operator: the compiled IR computes what onnxruntime computes.

Each case is a small graph on a random input, with odd attributes (padding, strides, groups,
dilations, non-square kernels, ceil mode); the IR is evaluated with lipc's interpreter.
"""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import lipc
from lipc.core.interpret import evaluate
from lipc.core.sparse import CSR

ort = pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(0)


def f32(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def build(nodes, inits, in_shape, opset=17):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    m.graph.output[0].type.tensor_type.ClearField("shape")   # unknown output shape
    return m


def check(tmp_path, nodes, inits, in_shape, n=12, opset=17):
    path = tmp_path / "m.onnx"
    onnx.save(build(nodes, inits, in_shape, opset), str(path))
    net = lipc.load(path)
    X = RNG.uniform(-2, 2, (n, int(np.prod(in_shape))))
    ir = evaluate(net.graph, {net.input: X.T}, [net.output])[net.output].T
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = np.stack([sess.run(None, {"x": x.reshape(in_shape).astype(np.float32)})[0].ravel()
                     for x in X]).astype(np.float64)
    assert ir.shape == want.shape
    assert np.allclose(ir, want, rtol=1e-5, atol=1e-5)
    assert np.allclose(ir, net.reference(X), rtol=1e-9, atol=1e-9)
    return net


def N(op, ins, outs=("y",), **kw):
    return helper.make_node(op, list(ins), list(outs), name=f"{op.lower()}_node", **kw)


CONV_CASES = [
    dict(kernel=(3, 2), strides=[2, 1], pads=[1, 0, 2, 1], dilations=[1, 2], group=2),
    dict(kernel=(3, 3), auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(kernel=(2, 2), auto_pad="VALID"),
    dict(kernel=(1, 1), group=4),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv(tmp_path, case):
    case = dict(case)
    kh, kw = case.pop("kernel")
    group = case.get("group", 1)
    W, B = f32(6 if group != 4 else 4, 4 // group, kh, kw), f32(6 if group != 4 else 4)
    net = check(tmp_path, [N("Conv", ["x", "W", "B"], **case)], {"W": W, "B": B}, [1, 4, 7, 6])
    conv = [net.graph.op(n) for n in net.graph.topo() if net.graph.label(n) == "conv_node"][0]
    assert isinstance(conv.terms[0].weight, CSR)          # never densified


@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 1, 0, 0]),
    dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 1, 0, 0], count_include_pad=1),
    dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
])
def test_average_pool(tmp_path, attrs):
    check(tmp_path, [N("AveragePool", ["x"], **attrs)], {}, [1, 3, 5, 7])


@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[2, 3], strides=[2, 2], pads=[0, 1, 1, 0]),
    dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[2, 2], dilations=[2, 1]),
])
def test_max_pool(tmp_path, attrs):
    check(tmp_path, [N("MaxPool", ["x"], **attrs)], {}, [1, 2, 5, 5])


def test_global_average_pool_and_batchnorm_after_conv(tmp_path):
    C = 3
    inits = {"W": f32(C, 2, 3, 3), "s": f32(C), "b": f32(C), "m": f32(C),
             "v": (RNG.uniform(0.5, 2, C)).astype(np.float32)}
    nodes = [N("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"],
                              name="bn", epsilon=1e-3),
             helper.make_node("Relu", ["bn"], ["r"], name="relu"),
             N("GlobalAveragePool", ["r"])]
    net = check(tmp_path, nodes, inits, [1, 2, 4, 4])
    labels = [net.graph.label(n) for n in net.graph.topo()]
    assert any("conv_node + bn" in l for l in labels)     # BN folded into the convolution


@pytest.mark.parametrize("nodes, inits, opset", [
    ([N("LeakyRelu", ["x"], alpha=0.1)], {}, 17),
    ([N("PRelu", ["x", "s"])], {"s": f32(3, 1, 1)}, 17),
    ([N("Clip", ["x", "lo", "hi"])], {"lo": np.array(-0.5, np.float32),
                                      "hi": np.array(0.7, np.float32)}, 17),
    ([N("Clip", ["x", "", "hi"])], {"hi": np.array(0.2, np.float32)}, 17),
    ([N("Abs", ["x"])], {}, 17),
    ([N("Max", ["x", "c"])], {"c": f32(1, 3, 1, 4)}, 17),
    ([N("Min", ["x", "c", "d"])], {"c": f32(4), "d": f32(1, 1, 2, 1)}, 17),
    ([N("Neg", ["x"], ["n"]), N("Max", ["x", "n"])], {}, 17),
    ([N("Mul", ["x", "c"])], {"c": f32(3, 1, 1)}, 17),
    ([N("Div", ["x", "c"])], {"c": np.array([2.0, -4.0, 0.5, 8.0], np.float32)}, 17),
    ([N("Sub", ["c", "x"])], {"c": f32(1, 1, 2, 4)}, 17),
    ([N("Relu", ["x"], ["r"]), N("Add", ["r", "x"])], {}, 17),
], ids=["leaky", "prelu", "clip", "clip-max", "abs", "max-const", "min-3", "max-sym", "mul",
        "div", "sub-const", "residual"])
def test_elementwise(tmp_path, nodes, inits, opset):
    check(tmp_path, nodes, inits, [1, 3, 2, 4], opset=opset)


@pytest.mark.parametrize("nodes, inits", [
    ([N("Transpose", ["x"], perm=[0, 2, 3, 1])], {}),
    ([N("Slice", ["x", "st", "en", "ax", "sp"])],
     {"st": np.array([3, 0], np.int64), "en": np.array([0, 4], np.int64),
      "ax": np.array([3, 1], np.int64), "sp": np.array([-1, 2], np.int64)}),
    ([N("Gather", ["x", "i"], axis=1)], {"i": np.array([2, 0, 2], np.int64)}),
    ([N("Concat", ["x", "c", "x"], axis=2)], {"c": f32(1, 3, 1, 4)}),
    ([N("Pad", ["x", "p", "v"])], {"p": np.array([0, 0, 1, 2, 0, 1, 0, 0], np.int64),
                                   "v": np.array(0.5, np.float32)}),
    ([N("Squeeze", ["x", "a"], ["s"]), N("Unsqueeze", ["s", "b"])],
     {"a": np.array([0], np.int64), "b": np.array([3], np.int64)}),
    ([N("Dropout", ["x"], ["d"]), N("Cast", ["d"], ["c"], to=TensorProto.FLOAT),
      N("Identity", ["c"])], {}),
    ([N("Flatten", ["x"], ["f"], axis=2), N("MatMul", ["W", "f"])], {"W": f32(5, 3)}),
], ids=["transpose", "slice", "gather", "concat", "pad", "squeeze", "dropout-cast", "matmul-left"])
def test_data_movement(tmp_path, nodes, inits):
    check(tmp_path, nodes, inits, [1, 3, 2, 4])


def test_output_node_cuts_before_softmax(tmp_path):
    W = f32(3, 4)
    nodes = [N("Gemm", ["x", "W"], ["logits"], transB=1), N("Softmax", ["logits"])]
    path = tmp_path / "s.onnx"
    onnx.save(build(nodes, {"W": W}, [1, 4]), str(path))
    with pytest.raises(lipc.UnsupportedOpError, match="--output-node"):
        lipc.load(path)
    net = lipc.load(path, output_node="logits")
    X = RNG.normal(size=(3, 4))
    assert np.allclose(net.reference(X), X @ W.T.astype(float), atol=1e-12)
    res = lipc.solve(net, "box:0:1", output="0-1")
    assert res.value == pytest.approx(np.abs(W[0] - W[1]).astype(float).sum(), rel=1e-9)
