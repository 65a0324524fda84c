"""Front ends: turn a model file into a core Network, chosen by the file's suffix.

``FRONTENDS`` maps a suffix to its loader (ONNX graphs, lipc programs); a new format is one entry
here and a test.  The registry lives in the package that defines the interface, below every
user of ``load`` (the API, the CLI, estimators), so none of them is imported back.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..core.network import Network
from ..errors import LipcError
from .dsl import load_network
from .onnx.reader import load_onnx

FRONTENDS: dict[str, Callable[..., Network]] = {".onnx": load_onnx, ".lipc": load_network}


def load(path: str | Path, output_node: str | None = None) -> Network:
    """Load a network file by its suffix; ``output_node`` cuts an ONNX graph at that tensor (or,
    for a lipc program, picks the query of that name or index)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FRONTENDS:
        raise LipcError(f"cannot load {path}: unknown model format {suffix!r}; "
                        f"supported: {', '.join(FRONTENDS)}")
    if output_node is not None:
        return FRONTENDS[suffix](path, output_node=output_node)
    return FRONTENDS[suffix](path)


def network_of(net: Network | str | Path) -> Network:
    """``net`` itself, or the network in the file it names."""
    return net if isinstance(net, Network) else load(net)
