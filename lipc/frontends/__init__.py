"""Front ends: turn a model (a file, or an ONNX model in memory) into a core Network.

``FRONTENDS`` maps a file suffix to its loader (ONNX graphs, gzip-compressed ONNX, lipc
programs, each also gzip-compressed); a new format is one entry here and a test.  ``load`` also takes an
``onnx.ModelProto`` or its serialised bytes, which is how weight arrays (``from_layers``) and
PyTorch modules (``from_torch``) come in: through the same ONNX reader as a file, so an
in-memory network is the very IR its file would give.  The registry lives in the package that
defines the interface, below every user of ``load`` (the API, the CLI, estimators), so none of
them is imported back.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from onnx import ModelProto

from ..core.network import Network
from ..errors import LipcError, ModelError
from .dsl import load_network
from .onnx.reader import load_onnx, model_from_bytes, network_from_model

FRONTENDS: dict[str, Callable[..., Network]] = {".onnx": load_onnx, ".onnx.gz": load_onnx,
                                                ".lipc": load_network, ".lipc.gz": load_network}


def _suffix(path: str | Path) -> str:
    """The longest registered suffix the file name ends with (``.onnx.gz`` before ``.gz``)."""
    name = Path(path).name.lower()
    return max((s for s in FRONTENDS if name.endswith(s)), key=len, default=Path(path).suffix)


def load(model: str | Path | ModelProto | bytes, output_node: str | None = None
         ) -> Network:
    """Load a network: a file (by its suffix), an ``onnx.ModelProto`` or serialised ONNX bytes;
    ``output_node`` cuts an ONNX graph at that tensor (or, for a lipc program, picks the query
    of that name or index)."""
    if isinstance(model, ModelProto):
        return network_from_model(model, output_node, "the ONNX model", model.graph.name or "model")
    if isinstance(model, (bytes, bytearray, memoryview)):
        return network_from_model(model_from_bytes(bytes(model)), output_node, "the ONNX bytes")
    if not isinstance(model, (str, Path)):
        raise ModelError(f"cannot load a {type(model).__name__}: give a model file path, an "
                         "onnx.ModelProto or ONNX bytes (lipc.from_layers / lipc.from_torch "
                         "for weight arrays and PyTorch modules)")
    suffix = _suffix(model)
    if suffix not in FRONTENDS:
        raise LipcError(f"cannot load {model}: unknown model format {suffix!r}; "
                        f"supported: {', '.join(FRONTENDS)}")
    if output_node is not None:
        return FRONTENDS[suffix](model, output_node=output_node)
    return FRONTENDS[suffix](model)


def network_of(net: Network | str | Path | ModelProto | bytes) -> Network:
    """``net`` itself, or the network it names or holds (file, ModelProto, bytes)."""
    return net if isinstance(net, Network) else load(net)
