"""What is asked of a network: the output side (a functional c or a set C of them, from an
output norm) and the input norm.

``--output`` spellings for a single functional (a table of small parsers, tried in order):

* ``3``        the output f_3
* ``0-1``      the margin f_0 - f_1
* ``1,-1,0``   explicit weights c (one per output)
* ``c.npy``    weights from a file
* omitted      allowed only for a single-output network (c = [1]) or with ``--output-norm``
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..util.arrays import load_array
from ..errors import QueryError, ShapeError
from .norms import InputNorm, parse_input_norm
from .outputs import OutputSet, functional, parse_output_norm


@dataclass
class Query:
    output: OutputSet             # the set C of seed vectors (a single c for a functional)
    input_norm: InputNorm

    @classmethod
    def make(cls, n_inputs: int, n_outputs: int, output: str | None = None,
             input_norm: str | InputNorm = "linf", output_norm: str | None = None,
             center_output: Callable[[], np.ndarray] | None = None,
             base: Path | None = None) -> "Query":
        if output is not None and output_norm is not None:
            raise QueryError("give either --output (one scalar function) or --output-norm "
                             "(a norm on the output vector), not both")
        if output_norm is not None:
            out = parse_output_norm(output_norm, n_outputs, center_output or (lambda: None))
        else:
            out = functional(parse_output(output, n_outputs, base), output or "f")
        norm = parse_input_norm(input_norm, base)
        norm.check_dim(n_inputs)
        return cls(out, norm)


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
                         "e.g. --output 0 (f_0) or --output 0-1 (the margin f_0 - f_1), or a "
                         "norm on the output vector with --output-norm linf|l1|margin")
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
    elif s.endswith(".npy") or s.endswith(".npz"):
        path = Path(s) if Path(s).exists() or base is None else base / s
        c = load_array(path, "--output weights", error=QueryError).ravel()
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
