"""Writing small ReLU networks as ONNX files for tests, in the spellings exporters produce."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def onnx_mlp(weights, biases, style: str = "gemm", dtype=np.float32,
             activation: str = "Relu") -> onnx.ModelProto:
    """f(x) = W_L relu(... relu(W_1 x + b_1)) + b_L as an ONNX graph on input x of shape (1, d).

    style: "gemm" (Gemm, transB=1, as torch exports), "matmul" (MatMul by W^T then Add),
    "gemm_t" (Gemm with transB=0 and alpha/beta scaling).
    """
    nodes, inits = [], []
    cur = "x"
    tp = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    for k, (W, b) in enumerate(zip(weights, biases)):
        W, b = np.asarray(W, dtype), np.asarray(b, dtype)
        out = "y" if k == len(weights) - 1 else f"z{k}"
        if style == "gemm":
            inits += [numpy_helper.from_array(W, f"W{k}"), numpy_helper.from_array(b, f"b{k}")]
            nodes.append(helper.make_node("Gemm", [cur, f"W{k}", f"b{k}"], [out], name=f"gemm{k}",
                                          transB=1))
        elif style == "gemm_t":
            inits += [numpy_helper.from_array((W.T / 2).astype(dtype), f"W{k}"),
                      numpy_helper.from_array((b * 4).astype(dtype), f"b{k}")]
            nodes.append(helper.make_node("Gemm", [cur, f"W{k}", f"b{k}"], [out], name=f"gemm{k}",
                                          alpha=2.0, beta=0.25))
        elif style == "matmul":
            inits += [numpy_helper.from_array(np.ascontiguousarray(W.T), f"W{k}"),
                      numpy_helper.from_array(b, f"b{k}")]
            nodes.append(helper.make_node("MatMul", [cur, f"W{k}"], [f"m{k}"], name=f"mm{k}"))
            nodes.append(helper.make_node("Add", [f"m{k}", f"b{k}"], [out], name=f"add{k}"))
        else:
            raise ValueError(style)
        if k < len(weights) - 1:
            nodes.append(helper.make_node(activation, [out], [f"h{k}"], name=f"act{k}"))
            cur = f"h{k}"
    d, m = weights[0].shape[1], weights[-1].shape[0]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", tp, [1, d])],
                              [helper.make_tensor_value_info("y", tp, [1, m])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def save_mlp(path: Path, weights, biases, **kw) -> Path:
    onnx.save(onnx_mlp(weights, biases, **kw), str(path))
    return path


def random_mlp(rng: np.random.Generator, sizes: list[int]):
    """float32-representable weights (so the ONNX file holds them exactly), as float64 arrays."""
    Ws, bs = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        s = 1 / np.sqrt(a)
        Ws.append(rng.uniform(-s, s, (b, a)).astype(np.float32).astype(np.float64))
        bs.append(rng.uniform(-s, s, b).astype(np.float32).astype(np.float64))
    return Ws, bs
