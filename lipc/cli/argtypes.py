"""argparse types for numeric flags and solver names: a bad value is argparse's one-line usage
error (exit 2) before any work starts, never a traceback or a silent nonsense run (``-t -1``,
``--samples 0``, ``--gap -1``, ``--solver hihgs``)."""
from __future__ import annotations

import argparse
import math

from ..solvers import names


def _number(kind, test, words: str):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {words}") from None
        if not (test(v) and math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"{text!r}: must be {words}")
        return v
    parse.__name__ = words
    return parse


positive_float = _number(float, lambda v: v > 0, "a positive number")
nonnegative_float = _number(float, lambda v: v >= 0, "a number >= 0")
positive_int = _number(int, lambda v: v > 0, "a positive integer")
nonnegative_int = _number(int, lambda v: v >= 0, "an integer >= 0")


def solver_name(text: str) -> str:
    """``--solver``: a back end of the solver registry, ``auto``, ``race`` or ``race:A,B``, checked
    against the registry itself so the accepted names never drift from the back ends lipc has."""
    key = text.strip().lower()
    known = names()
    racers = key[len("race:"):].split(",") if key.startswith("race:") else []
    if key in ("auto", "race") or key in known or (racers and all(r in known for r in racers)):
        return key
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a solver: choose {', '.join(solver_choices())} or race:A,B")


def solver_choices() -> list[str]:
    """The spellings ``--solver`` takes besides race:A,B, registry order (for help texts)."""
    return ["auto", *names(), "race"]
