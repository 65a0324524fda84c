"""Numbers as text for people: one spelling of "no value" and of precision across lipc's outputs."""
from __future__ import annotations


def number_text(v: float | None, digits: int | None = None) -> str:
    """``-`` for no value; ``digits`` significant digits, or every digit (``repr``) when None,
    which is what a result that will be compared or pasted elsewhere must show."""
    if v is None:
        return "-"
    return repr(float(v)) if digits is None else f"{v:.{digits}g}"
