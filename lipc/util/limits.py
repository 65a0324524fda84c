"""Size limits that a user may raise through an environment variable.

Limits guard allocations before they happen (a 197-byte model declaring 10^10 inputs, an
``.npz`` member expanding to gigabytes); each reader keeps its own default and variable, and
reads them through one function so that every limit is spelled and validated alike."""
from __future__ import annotations

import os

from ..errors import LipcError


def env_limit(var: str, default: int, error: type[LipcError] = LipcError) -> int:
    """The positive integer in ``$var``, or ``default`` when it is unset."""
    raw = os.environ.get(var)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise error(f"{var}={raw!r} is not a whole number") from None
    if value < 1:
        raise error(f"{var}={raw!r} must be positive")
    return value
