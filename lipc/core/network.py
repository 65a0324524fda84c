"""A loaded network: its forward IR plus an independent reference evaluator.

The reference evaluator is how lipc checks itself: the witness of a solve is re-evaluated on the
*original* model (for ONNX, the ONNX reference interpreter in float64), never on the IR, so a bug
in the importer or the compiler cannot make a reported lower bound wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .ir import IRGraph


@dataclass
class Network:
    graph: IRGraph
    input: str                      # IR node of the network input (flattened, row-major)
    output: str                     # IR node of the network output (flattened)
    input_shape: tuple[int, ...]    # the model's own input shape (batch 1)
    reference: Callable[[np.ndarray], np.ndarray]   # (B, d) -> (B, m), float64
    name: str = "network"
    notes: list[str] = field(default_factory=list)  # what the importer simplified (lipc show)

    @property
    def n_inputs(self) -> int:
        return self.graph.size(self.input)

    @property
    def n_outputs(self) -> int:
        return self.graph.size(self.output)
