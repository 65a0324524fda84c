"""argparse types for numeric flags: a bad value is argparse's one-line usage error (exit 2)
before any work starts, never a traceback or a silent nonsense run (``-t -1``, ``--samples 0``)."""
from __future__ import annotations

import argparse
import math


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
