"""Bound inference for the big-M constants: interval, symbolic and LP bound passes over the IR.

``BOUND_METHODS`` maps a ``--bounds`` name to a pass that annotates every node of the graph with
outward-rounded float64 bounds; a new method is one entry here and a test against the oracle.
"""
from __future__ import annotations

from typing import Callable

from ..core.ir import IRGraph
from .interval import infer_interval
from .lp import infer_auto, infer_lp, infer_mip
from .symbolic import infer_symbolic

# bound-inference method name -> pass annotating every node of the graph with bounds
BOUND_METHODS: dict[str, Callable[[IRGraph], None]] = {
    "interval": infer_interval,
    "symbolic": infer_symbolic,
    "lp": infer_lp,
    "mip": infer_mip,
    "auto": infer_auto,         # symbolic, + LP where small; interval for --formulation paper
}
