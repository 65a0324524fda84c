"""Writing a ReLU MLP as an ONNX graph: the one writer behind trained and random networks
(lipc.studies.training, lipc bench's generators) and the test and benchmark networks.

Deterministic: the same weights give the same bytes (bench libraries are byte-identical on
rebuild)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _check_chain(Ws: list[np.ndarray], bs: list[np.ndarray]) -> None:
    if not Ws or len(Ws) != len(bs):
        raise ValueError("need as many biases as weight matrices (at least one layer)")
    for k, (W, b) in enumerate(zip(Ws, bs)):
        if W.ndim != 2 or b.shape != (W.shape[0],) or (k and W.shape[1] != Ws[k - 1].shape[0]):
            raise ValueError(f"layer {k}: weight {W.shape} / bias {b.shape} do not chain")


def onnx_mlp(weights, biases, style: str = "gemm", dtype=np.float32, activation: str = "Relu",
             producer: str = "") -> onnx.ModelProto:
    """f(x) = W_L act(... act(W_1 x + b_1)) + b_L on input "x" [1, d], output "y" [1, m]
    (opset 17, IR version 8); initialisers W{k}/b{k}, tensors z{k}/h{k}, activation nodes
    named after the activation (relu{k}).

    style: "gemm" (Gemm, transB=1, as torch exports), "matmul" (MatMul by W^T then Add),
    "gemm_t" (Gemm with transB=0 and alpha/beta scaling).
    """
    Ws = [np.ascontiguousarray(W, dtype=dtype) for W in weights]
    bs = [np.ascontiguousarray(b, dtype=dtype) for b in biases]
    _check_chain(Ws, bs)
    tp = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    nodes, inits, cur, last = [], [], "x", len(Ws) - 1
    for k, (W, b) in enumerate(zip(Ws, bs)):
        out = "y" if k == last else f"z{k}"
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
            raise ValueError(f"unknown MLP style {style!r}")
        if k < last:
            nodes.append(helper.make_node(activation, [out], [f"h{k}"],
                                          name=f"{activation.lower()}{k}"))
            cur = f"h{k}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", tp, [1, Ws[0].shape[1]])],
        [helper.make_tensor_value_info("y", tp, [1, Ws[-1].shape[0]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name=producer)
    model.ir_version = 8
    return model


def save_mlp(path: Path, weights, biases, **kw) -> Path:
    """Write :func:`onnx_mlp` to ``path`` (tests and benchmarks: a fresh file of their own)."""
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
