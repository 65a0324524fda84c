"""Bad ONNX input through the command line: exactly one ``lipc: error:`` line and exit 2.

Each case builds one malformed, unsupported or resource-exhausting model (or file) and runs it
through ``lipc.cli.main`` (the same code path as ``python -m lipc``; one case checks the real
subprocess).  A traceback, a second stderr line, a number, or any other exit status fails.
"""
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lipc.cli.main import main

F = TensorProto.FLOAT


def model(nodes, inits=None, in_shape=(1, 2, 4, 4), opset=17, inputs=None):
    """A graph from input ``x`` to output ``y``; ``inits`` maps names to arrays or TensorProtos."""
    tensors = [v if isinstance(v, TensorProto) else numpy_helper.from_array(np.asarray(v), k)
               for k, v in (inits or {}).items()]
    g = helper.make_graph(nodes, "g", inputs or [helper.make_tensor_value_info("x", F, in_shape)],
                          [helper.make_tensor_value_info("y", F, None)], tensors)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def N(op, ins, outs=("y",), **kw):
    return helper.make_node(op, list(ins), list(outs), name=f"{op.lower()}_node", **kw)


def i64(*v):
    return np.array(v, dtype=np.int64)


def external(tmp_path, location, dims=(4,), length=None, make_file=True):
    """A Gemm-free model whose Add constant lives in external data at ``location``."""
    t = TensorProto(name="c", data_type=F, dims=list(dims))
    t.data_location = TensorProto.EXTERNAL
    for k, v in [("location", location)] + ([("length", str(length))] if length is not None else []):
        e = t.external_data.add()
        e.key, e.value = k, v
    if make_file:
        (tmp_path / "w.bin").write_bytes(np.ones(4, np.float32).tobytes())
    return model([N("Add", ["x", "c"])], {"c": t}, in_shape=(4,))


def huge_input(tmp_path):
    return model([N("Relu", ["x"])], in_shape=(1, 100_000, 100_000))


def with_opset(v):
    return model([N("Relu", ["x"])], opset=v)


def no_opset(tmp_path):
    m = with_opset(17)
    del m.opset_import[:]
    return m


X4 = (1, 2, 4, 4)
CASES = {
    # shapes and indices
    "reshape_int64_overflow": lambda t: model([N("Reshape", ["x", "s"])], {"s": i64(2**62, 2**62, -1)}),
    "reshape_bad_size": lambda t: model([N("Reshape", ["x", "s"])], {"s": i64(5, -1, 7)}),
    "reshape_two_minus_one": lambda t: model([N("Reshape", ["x", "s"])], {"s": i64(-1, -1)}),
    "reshape_below_minus_one": lambda t: model([N("Reshape", ["x", "s"])], {"s": i64(-2, -16)}),
    "slice_step_zero": lambda t: model([N("Slice", ["x", "a", "b", "ax", "st"])],
                                       {"a": i64(0), "b": i64(2), "ax": i64(3), "st": i64(0)}),
    "slice_axis_out_of_range": lambda t: model([N("Slice", ["x", "a", "b", "ax"])],
                                               {"a": i64(0), "b": i64(2), "ax": i64(7)}),
    "slice_repeated_axes": lambda t: model([N("Slice", ["x", "a", "b", "ax"])],
                                           {"a": i64(0, 0), "b": i64(2, 2), "ax": i64(1, 1)}),
    "gather_index_out_of_range": lambda t: model([N("Gather", ["x", "i"], axis=2)], {"i": i64(0, 9)}),
    "gather_axis_out_of_range": lambda t: model([N("Gather", ["x", "i"], axis=5)], {"i": i64(0)}),
    "transpose_repeated_perm": lambda t: model([N("Transpose", ["x"], perm=[0, 0, 1, 2])]),
    "transpose_short_perm": lambda t: model([N("Transpose", ["x"], perm=[1, 0])]),
    "transpose_axis_out_of_range": lambda t: model([N("Transpose", ["x"], perm=[0, 1, 2, 9])]),
    "squeeze_non_one_axis": lambda t: model([N("Squeeze", ["x", "a"])], {"a": i64(1)}),
    "squeeze_axis_out_of_range": lambda t: model([N("Squeeze", ["x", "a"])], {"a": i64(-9)}),
    "unsqueeze_axis_out_of_range": lambda t: model([N("Unsqueeze", ["x", "a"])], {"a": i64(8)}),
    "unsqueeze_repeated_axes": lambda t: model([N("Unsqueeze", ["x", "a"])], {"a": i64(0, 0)}),
    "flatten_axis_out_of_range": lambda t: model([N("Flatten", ["x"], axis=6)]),
    "concat_axis_out_of_range": lambda t: model([N("Concat", ["x", "x"], axis=4)]),
    "concat_shape_mismatch": lambda t: model([N("Concat", ["x", "c"], axis=1)],
                                             {"c": np.ones((1, 1, 3, 4), np.float32)}),
    "matmul_shape_mismatch": lambda t: model([N("MatMul", ["x", "w"])], {"w": np.ones((5, 2), np.float32)}),
    "gemm_bias_shape": lambda t: model([N("Gemm", ["x", "w", "c"])],
                                       {"w": np.ones((4, 3), np.float32), "c": np.ones(5, np.float32)},
                                       in_shape=(1, 4)),
    "pad_wrong_length": lambda t: model([N("Pad", ["x", "p"])], {"p": i64(1, 1)}),
    "conv_kernel_mismatch": lambda t: model([N("Conv", ["x", "w"], kernel_shape=[2, 2])],
                                            {"w": np.ones((3, 2, 3, 3), np.float32)}),
    "conv_stride_zero": lambda t: model([N("Conv", ["x", "w"], strides=[0, 1])],
                                        {"w": np.ones((3, 2, 3, 3), np.float32)}),
    "pool_pads_not_below_kernel": lambda t: model([N("AveragePool", ["x"], kernel_shape=[2, 2],
                                                     pads=[2, 0, 0, 0])]),
    "pool_without_kernel": lambda t: model([N("MaxPool", ["x"])]),
    "maxpool_indices_output": lambda t: model([N("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2, 2])]),
    # attributes and modes
    "unknown_attribute": lambda t: model([N("Relu", ["x"], bogus=1)]),
    "attribute_wrong_type": lambda t: model([N("Flatten", ["x"], axis=1.5)]),
    "dropout_training_mode": lambda t: model([N("Dropout", ["x", "r", "tm"])],
                                             {"r": np.array(0.5, np.float32), "tm": np.array(True)}),
    "dropout_mask_output": lambda t: model([N("Dropout", ["x"], ["y", "mask"])]),
    "batchnorm_training_mode": lambda t: model(
        [N("BatchNormalization", ["x", "s", "b", "m", "v"], training_mode=1)],
        {k: np.ones(2, np.float32) for k in "sbmv"}),
    "pad_reflect_mode": lambda t: model([N("Pad", ["x", "p"], mode="reflect")], {"p": i64(*[1] * 8)}),
    "cast_to_int": lambda t: model([N("Cast", ["x"], to=TensorProto.INT32)]),
    "cast_to_unknown_type": lambda t: model([N("Cast", ["x"], ["z"], to=999), N("Relu", ["z"])]),
    "constant_sparse_value": lambda t: model([N("Constant", [], ["c"], sparse_value=helper.make_sparse_tensor(
        numpy_helper.from_array(np.ones(1, np.float32)), numpy_helper.from_array(i64(0)), [4])),
        N("Add", ["x", "c"])]),
    "clip_input_dependent_bound": lambda t: model([N("Clip", ["x", "x"])]),
    "undefined_tensor": lambda t: model([N("Add", ["x", "nothere"])]),
    "product_of_inputs": lambda t: model([N("Mul", ["x", "x"])]),
    # opsets
    "opset_1": lambda t: with_opset(1),
    "opset_6": lambda t: with_opset(6),
    "opset_99": lambda t: with_opset(99),
    "no_default_opset": no_opset,
    # resources
    "input_1x1e5x1e5": huge_input,
    "initializer_declares_1e12": lambda t: model([N("Add", ["x", "c"])],
                                                 {"c": TensorProto(name="c", data_type=F, dims=[10**6, 10**6])}),
    "initializer_negative_dim": lambda t: model([N("Add", ["x", "c"])],
                                                {"c": TensorProto(name="c", data_type=F, dims=[-4])}),
    "initializer_short_raw_data": lambda t: model([N("Add", ["x", "c"])], {"c": TensorProto(
        name="c", data_type=F, dims=[4], raw_data=b"\0\0")}, in_shape=(4,)),
    "pad_result_too_large": lambda t: model([N("Pad", ["x", "p"])], {"p": i64(0, 0, 10**5, 10**5, 0, 0, 10**5, 10**5)}),
    "gather_result_too_large": lambda t: model([N("Gather", ["x", "i"], axis=3)],
                                               {"i": np.zeros(10**6, np.int64)}),
    "external_data_traversal": lambda t: external(t, "../w.bin"),
    "external_data_absolute": lambda t: external(t, "/etc/passwd"),
    "external_data_missing": lambda t: external(t, "w.bin", make_file=False),
    "external_data_past_end": lambda t: external(t, "w.bin", length=4000),
    "external_data_huge_tensor": lambda t: external(t, "w.bin", dims=(10**10,)),
    # files
    "empty_file": lambda t: b"",
    "garbage_bytes": lambda t: bytes(range(256)) * 4,
    "truncated_model": lambda t: model([N("Relu", ["x"])]).SerializeToString()[:-7],
    "text_file": lambda t: b"this is not an onnx model\n",
    "two_inputs": lambda t: model([N("Add", ["x", "x2"])], inputs=[
        helper.make_tensor_value_info("x", F, [4]), helper.make_tensor_value_info("x2", F, [4])]),
}


def _write(tmp_path, name):
    made = CASES[name](tmp_path)
    sub = tmp_path / "m"
    sub.mkdir()
    path = sub / "model.onnx"
    path.write_bytes(made if isinstance(made, bytes) else made.SerializeToString())
    if (tmp_path / "w.bin").exists():
        (tmp_path / "w.bin").rename(sub / "w.bin")
        (tmp_path / "w.bin").write_bytes(b"outside")          # a file ../w.bin must not reach
    return path


COMMANDS = [lambda p, o: ["show", p], lambda p, o: ["solve", p, "--domain", "box:0:1"],
            lambda p, o: ["compile", p, "--domain", "box:0:1", "-o", o]]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_onnx_is_one_line_exit_2(tmp_path, capsys, name):
    path = _write(tmp_path, name)
    out = tmp_path / "out.mps"
    argv = COMMANDS[sorted(CASES).index(name) % len(COMMANDS)](str(path), str(out))
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        rc = main(argv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert rc == 2, (rc, err, captured.out)
    assert err.startswith("lipc: error: ") and "\n" not in err and "Traceback" not in err, err
    assert not out.exists()
    assert time.perf_counter() - t0 < 5 and peak < 500 * 2**20


def test_messages_name_the_node_and_attribute(tmp_path, capsys):
    cases = {"unknown_attribute": ["relu_node", "bogus"], "dropout_training_mode": ["training_mode"],
             "slice_step_zero": ["slice_node", "step"], "squeeze_non_one_axis": ["squeeze_node", "size 1"],
             "opset_1": ["opset 1", "7 to"], "input_1x1e5x1e5": ["10000000000", "LIPC_MAX_ELEMENTS"],
             "external_data_traversal": ["outside the model's folder"],
             "gather_index_out_of_range": ["gather_node", "index"]}
    for name, words in cases.items():
        d = tmp_path / name
        d.mkdir()
        assert main(["show", str(_write(d, name))]) == 2
        err = capsys.readouterr().err
        assert all(w in err for w in words), (name, err)


def test_limit_is_overridable(tmp_path, capsys, monkeypatch):
    p = tmp_path / "pad.onnx"
    onnx.save(model([N("Pad", ["x", "p"])], {"p": i64(0, 0, 1, 1, 0, 0, 1, 1)}), str(p))
    assert main(["show", str(p)]) == 0
    monkeypatch.setenv("LIPC_MAX_ELEMENTS", "40")              # the input has 32, the pad 72
    assert main(["show", str(p)]) == 2
    assert "LIPC_MAX_ELEMENTS" in capsys.readouterr().err


def test_external_data_inside_the_folder_loads(tmp_path):
    import lipc
    m = external(tmp_path, "w.bin")
    (tmp_path / "m.onnx").write_bytes(m.SerializeToString())
    net = lipc.load(tmp_path / "m.onnx")
    assert np.allclose(net.reference(np.zeros((1, 4))), 1.0)


def test_output_node_before_an_unsupported_op(tmp_path, capsys):
    """Nodes after the cut are neither compiled nor run by the reference interpreter."""
    m = model([N("Relu", ["x"], ["h"]), helper.make_node("Frobnicate", ["h"], ["y"], domain="my.ops")],
              in_shape=(3,))
    m.opset_import.append(helper.make_opsetid("my.ops", 1))
    p = tmp_path / "cut.onnx"
    p.write_bytes(m.SerializeToString())
    assert main(["solve", str(p), "--domain", "box:-1:1", "--output-node", "h", "--output", "0"]) == 0
    assert "1" in capsys.readouterr().out
    assert main(["show", str(p)]) == 2                     # without the cut: refused, one line
    err = capsys.readouterr().err.strip()
    assert err.startswith("lipc: error: ") and "Frobnicate" in err and "\n" not in err


def test_python_m_lipc_subprocess(tmp_path):
    """The real command line, once: one stderr line, exit 2."""
    p = tmp_path / "big.onnx"
    p.write_bytes(huge_input(tmp_path).SerializeToString())
    assert len(p.read_bytes()) < 250
    r = subprocess.run([sys.executable, "-m", "lipc", "show", str(p)], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("lipc: error:")
