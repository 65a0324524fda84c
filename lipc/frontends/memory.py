"""Networks held in memory: weight arrays and PyTorch modules, both turned into an ONNX model
first and read by the one ONNX reader, so an in-memory network is exactly the IR its file
would give (same validation, same reference check)."""
from __future__ import annotations

import io
from inspect import signature
from typing import Any, Sequence

import numpy as np

from ..core.network import Network
from ..errors import LipcError, ModelError, ShapeError
from .onnx.reader import model_from_bytes, network_from_model
from .onnx.writer import onnx_mlp


def from_layers(layers: Sequence[tuple[Any, Any]], name: str = "layers") -> Network:
    """The ReLU MLP f(x) = W_L relu(... relu(W_1 x + b_1)) + b_L from ``[(W_1, b_1), ...]``
    (W_k of shape [out, in]); weights are kept in float64, so nothing is rounded."""
    Ws, bs = [], []
    for k, layer in enumerate(layers):
        try:
            W, b = layer
        except (TypeError, ValueError):
            raise ShapeError(f"layer {k}: expected a pair (W, b), got {type(layer).__name__}") \
                from None
        W, b = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if W.ndim != 2 or b.shape != (W.shape[0],) or (Ws and W.shape[1] != Ws[-1].shape[0]):
            prev = f" after a layer with {Ws[-1].shape[0]} outputs" if Ws else ""
            raise ShapeError(f"layer {k}: weight {W.shape} and bias {b.shape} do not chain{prev} "
                             "(W is [out, in], b is [out])")
        Ws.append(W)
        bs.append(b)
    if not Ws:
        raise ShapeError("from_layers needs at least one (W, b) layer")
    model = onnx_mlp(Ws, bs, dtype=np.float64, producer="lipc.from_layers")
    return network_from_model(model, None, "the layers", name)


def from_torch(module: Any, example_input: Any, name: str | None = None) -> Network:
    """A PyTorch module, exported in memory with ``torch.onnx.export`` at ``example_input`` (a
    tensor of the input's shape, batch dimension included) and read as ONNX."""
    try:
        import torch
    except ImportError:
        raise LipcError("lipc.from_torch needs PyTorch, which is not installed "
                        "(pip install torch); or export the model to ONNX yourself and use "
                        "lipc.load") from None
    buffer = io.BytesIO()
    was_training = getattr(module, "training", False)
    module.eval()
    try:
        # the TorchScript exporter writes to a buffer; newer torch defaults to dynamo
        legacy = {"dynamo": False} if "dynamo" in signature(torch.onnx.export).parameters else {}
        torch.onnx.export(module, (example_input,), buffer, input_names=["x"],
                          output_names=["y"], **legacy)
    except Exception as exc:  # torch's exporter raises many kinds on an unexportable module
        raise ModelError(f"torch.onnx.export failed: {str(exc).splitlines()[0]}") from None
    finally:
        module.train(was_training)
    return network_from_model(model_from_bytes(buffer.getvalue(), "the exported module"), None,
                              "the exported module", name or type(module).__name__)
