"""Fuzzers for the ONNX reader, seeded and bounded for CI (together about 30 s).

* A grammar fuzzer (hypothesis) draws small graphs over the supported operators (and a few
  unsupported ones) with random inputs, constants and attribute values, valid or not.  lipc
  must either raise a LipcError or load the model; a model it loads must be one onnxruntime
  runs, with the same output.  Any other exception is a bug.
* A byte-level mutation fuzzer flips, deletes and inserts bytes of every shipped example model:
  each mutant loads (and its IR evaluates) or raises a LipcError.
"""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import lipc
from lipc.errors import LipcError
from lipc.core.interpret import evaluate
from lipc.frontends.onnx.ops import ATTRIBUTES, OP_HANDLERS

ort = pytest.importorskip("onnxruntime")
A = helper.AttributeProto
EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.onnx"))
GRAPHS, MUTANTS_PER_MODEL = 150, 30

# inputs that ONNX types as integers (shapes, indices, axes, pads) or booleans
INT_INPUTS = {"Reshape": {1}, "Slice": {1, 2, 3, 4}, "Gather": {1}, "Squeeze": {1},
              "Unsqueeze": {1}, "Pad": {1, 3}}
BOOL_INPUTS = {"Dropout": {2}}
ARITY = {  # a range around what each op takes, so wrong arities are drawn too
"Gemm": (2, 3), "MatMul": (2, 2), "Add": (2, 2), "Sub": (2, 2), "Mul": (2, 2),
         "Div": (2, 2), "PRelu": (2, 2), "Clip": (1, 3), "Max": (1, 3), "Min": (1, 3),
         "BatchNormalization": (5, 5), "Conv": (2, 3), "Reshape": (2, 2), "Squeeze": (1, 2),
         "Unsqueeze": (1, 2), "Slice": (3, 5), "Gather": (2, 2), "Concat": (1, 3),
         "Pad": (1, 4), "Dropout": (1, 3), "Constant": (0, 0)}
OPS = sorted(OP_HANDLERS) + ["Sigmoid", "Round"]
STRINGS = ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "constant", "reflect", "junk"]


@st.composite
def attribute(draw, name, kind):
    if kind == A.INT:
        return draw(st.integers(-2, 4))
    if kind == A.INTS:
        return draw(st.lists(st.integers(-2, 4), min_size=1, max_size=4))
    if kind == A.FLOAT:
        return draw(st.floats(-2, 2, width=32))
    if kind == A.FLOATS:
        return draw(st.lists(st.floats(-2, 2, width=32), min_size=1, max_size=3))
    if kind == A.STRING:
        return draw(st.sampled_from(STRINGS))
    return numpy_helper.from_array(np.asarray(draw(st.lists(st.floats(-2, 2, width=32), min_size=1,
                                                             max_size=3)), np.float32))


@st.composite
def constant(draw, op, position):
    shape = tuple(draw(st.lists(st.integers(1, 4), max_size=4)))
    if position in INT_INPUTS.get(op, ()):
        vals = draw(st.lists(st.integers(-3, 4), min_size=1, max_size=4))
        return np.array(vals, np.int64)
    if position in BOOL_INPUTS.get(op, ()):
        return np.array(draw(st.booleans()))
    if draw(st.booleans()):
        shape = ()
    seed = draw(st.integers(0, 2**31))
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(np.float32)


@st.composite
def onnx_graph(draw):
    in_shape = draw(st.sampled_from([(4,), (1, 6), (2, 3), (1, 2, 4, 4), (1, 1, 5, 3)]))
    tensors, inits, nodes = ["x"], {}, []
    for k in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(OPS))
        lo, hi = ARITY.get(op, (1, 1))
        ins = [tensors[-1]]                                # a chain: every node is live
        for pos in range(1, draw(st.integers(lo, hi))):
            if draw(st.integers(0, 9)) == 0:
                ins.append("")                                  # an omitted optional input
            elif draw(st.integers(0, 4)) == 0:
                ins.append(draw(st.sampled_from(tensors)))
            else:
                name = f"c{k}_{pos}"
                inits[name] = draw(constant(op, pos))
                ins.append(name)
        if op == "Constant":
            ins = []
        accepted = ATTRIBUTES.get(op, {})
        kw = {name: draw(attribute(name, kind)) for name, kind in accepted.items()
              if draw(st.integers(0, 2)) == 0}
        if draw(st.integers(0, 19)) == 0:
            kw["bogus"] = 1
        if op == "Constant" and not any(k.startswith("value") for k in kw):
            kw["value_float"] = 1.0
        out = f"t{k}"
        nodes.append(helper.make_node(op, ins, [out], name=f"n{k}", **kw))
        tensors.append(out)
    nodes[-1].output[0] = "y"
    g = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", draw(st.sampled_from([13, 17])))])
    m.ir_version = 8
    return m, in_shape


def ort_outputs(m, X, in_shape):
    """onnxruntime's outputs, or None when it refuses or fails on the model."""
    try:
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return np.stack([np.asarray(sess.run(None, {"x": x.reshape(in_shape).astype(np.float32)})[0],
                                    dtype=np.float64).ravel() for x in X])
    except Exception:
        return None


@settings(max_examples=GRAPHS, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(onnx_graph())
def test_grammar_fuzz_loads_correctly_or_refuses(tmp_path_factory, case):
    m, in_shape = case
    path = tmp_path_factory.mktemp("g") / "m.onnx"
    path.write_bytes(m.SerializeToString())
    try:
        net = lipc.load(path)
    except LipcError as exc:
        assert "\n" not in str(exc)
        return
    X = np.random.default_rng(0).uniform(-2, 2, (3, int(np.prod(in_shape))))
    want = ort_outputs(m, X, in_shape)
    assert want is not None, f"lipc accepted a model onnxruntime refuses: {helper.printable_graph(m.graph)}"
    ir = evaluate(net.graph, {net.input: X.T}, [net.output])[net.output].T
    scale = max(1.0, float(np.abs(want).max()))
    assert ir.shape == want.shape and np.allclose(ir, want, rtol=1e-4, atol=1e-4 * scale)


def mutants(data: bytes, rng: np.random.Generator, n: int):
    for _ in range(n):
        b = bytearray(data)
        kind = rng.integers(3)
        for _ in range(rng.integers(1, 4)):
            i = int(rng.integers(len(b)))
            if kind == 0:
                b[i] ^= 1 << int(rng.integers(8))                # flip a bit
            elif kind == 1:
                del b[i:i + int(rng.integers(1, 5))]             # delete bytes
            else:
                b[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 5)), dtype=np.uint8))
        yield bytes(b)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_mutated_examples_load_or_refuse(tmp_path, example):
    rng = np.random.default_rng(sum(example.name.encode()))
    loaded = 0
    for k, data in enumerate(mutants(example.read_bytes(), rng, MUTANTS_PER_MODEL)):
        path = tmp_path / f"mutant{k}.onnx"
        path.write_bytes(data)
        try:
            net = lipc.load(path)
        except LipcError as exc:
            assert "\n" not in str(exc), str(exc)
            continue
        x = np.zeros((net.n_inputs, 1))
        evaluate(net.graph, {net.input: x}, [net.output])
        loaded += 1
    assert 0 <= loaded <= MUTANTS_PER_MODEL
