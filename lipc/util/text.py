"""Numbers as text for people: one spelling of "no value" and of precision across lipc's outputs."""
from __future__ import annotations

import json

import numpy as np


def number_text(v: float | None, digits: int | None = None) -> str:
    """``-`` for no value; ``digits`` significant digits, or every digit (``repr``) when None,
    which is what a result that will be compared or pasted elsewhere must show."""
    if v is None:
        return "-"
    return repr(float(v)) if digits is None else f"{v:.{digits}g}"


def _finite(obj):
    """obj with every non-finite float replaced by None (null): JSON has no NaN or infinity,
    and a reader must never meet one in lipc's output."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj


def json_text(obj) -> str:
    """lipc's JSON: strict (allow_nan=False), non-finite floats as null."""
    return json.dumps(_finite(obj), indent=2, default=float, allow_nan=False)
