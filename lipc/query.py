"""What is asked of a network: the output functional c and the input norm.

``--output`` spellings (a table of small parsers, tried in order):

* ``3``        the output f_3
* ``0-1``      the margin f_0 - f_1
* ``1,-1,0``   explicit weights c (one per output)
* ``c.npy``    weights from a file
* omitted      allowed only for a single-output network (c = [1])
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import QueryError, ShapeError
from .norms import canonical_norm


@dataclass
class Query:
    c: np.ndarray                 # the scalar function is <c, f(x)>
    input_norm: str = "linf"      # canonical name, a key of norms.INPUT_NORMS
    output_spec: str = ""

    @classmethod
    def make(cls, n_outputs: int, output: str | None = None, input_norm: str = "linf",
             base: Path | None = None) -> "Query":
        return cls(parse_output(output, n_outputs, base), canonical_norm(input_norm),
                   output or "")


def _index(i: str, m: int) -> int:
    k = int(i)
    if not -m <= k < m:
        raise ShapeError(f"output index {k} is out of range: the network has {m} outputs")
    return k % m


def parse_output(spec: str | None, m: int, base: Path | None = None) -> np.ndarray:
    """The vector c of the scalar function <c, f> selected by ``spec``."""
    if spec is None or str(spec).strip() == "":
        if m == 1:
            return np.ones(1)
        raise QueryError(f"the network has {m} outputs: choose a scalar function with --output, "
                         "e.g. --output 0 (f_0) or --output 0-1 (the margin f_0 - f_1)")
    s = str(spec).strip()
    c = np.zeros(m)
    if re.fullmatch(r"-?\d+", s):
        c[_index(s, m)] = 1.0
    elif re.fullmatch(r"\d+\s*-\s*\d+", s):
        i, j = (t.strip() for t in s.split("-"))
        if _index(i, m) == _index(j, m):
            raise QueryError(f"--output {s}: f_i - f_i is identically zero")
        c[_index(i, m)] += 1.0
        c[_index(j, m)] -= 1.0
    elif s.endswith(".npy"):
        path = Path(s) if Path(s).exists() or base is None else base / s
        if not path.exists():
            raise QueryError(f"--output: file not found: {s}")
        c = np.asarray(np.load(path), dtype=np.float64).ravel()
    elif "," in s:
        try:
            c = np.array([float(t) for t in s.split(",")])
        except ValueError:
            raise QueryError(f"--output {s!r}: weights must be numbers") from None
    else:
        raise QueryError(f"cannot read --output {s!r}; use an index (3), a margin (0-1), "
                         "weights (1,-1,0) or a .npy file")
    if c.size != m:
        raise ShapeError(f"--output has {c.size} weights but the network has {m} outputs")
    if not np.all(np.isfinite(c)):
        raise QueryError("--output weights must be finite")
    return c
