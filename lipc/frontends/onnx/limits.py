"""Resource limits of the ONNX reader, checked *before* anything is allocated.

A 197-byte model can declare a 1x100000x100000 input, a Pad of 10^12 or an external-data file of
40 GB; numpy would try to allocate it and the machine would swap or die.  Every tensor size the
reader is about to create is compared with ``max_elements()`` first, so such a model is one
``lipc: error:`` line within a second.  The limit is generous for the networks an exact MIP can
handle (2 million numbers, about 200 MB of index and weight arrays at the peak; a MIP with
that many variables is far out of reach) and can be raised
with the environment variable ``LIPC_MAX_ELEMENTS``.
"""
from __future__ import annotations

from ...errors import ModelError
from ...util.limits import env_limit

DEFAULT_MAX_ELEMENTS = 2_000_000
ENV_VAR = "LIPC_MAX_ELEMENTS"


def max_elements() -> int:
    """The largest number of elements a tensor (or a weight matrix's nonzeros) may have."""
    return env_limit(ENV_VAR, DEFAULT_MAX_ELEMENTS, ModelError)


def product(dims) -> int:
    """The exact product of ``dims`` (Python integers: no int64 overflow)."""
    out = 1
    for d in dims:
        out *= int(d)
    return out


def check_elements(count: int, what: str) -> None:
    """Refuse to create ``what`` with ``count`` elements when that exceeds the limit."""
    limit = max_elements()
    if count > limit:
        raise ModelError(f"{what} would have {count} elements, more than lipc's limit of "
                         f"{limit} (set {ENV_VAR} to raise it)")


def check_shape(shape, what: str) -> None:
    """``check_elements`` for a tensor of ``shape``; negative dimensions are malformed."""
    if any(int(d) < 0 for d in shape):
        raise ModelError(f"{what} has a negative dimension: {list(shape)}")
    check_elements(product(shape), what)
