"""What is asked of a network: the output side (a functional c or a set C of them, from an
output norm) and the input norm.

``--output`` spellings for a single functional (a table of small parsers, tried in order):

* ``3``        the output f_3
* ``0-1``      the margin f_0 - f_1
* ``1,-1,0``   explicit weights c (one per output)
* ``c.npy``    weights from a file
* from Python also an int (f_i), a pair ``(i, j)`` (f_i - f_j) or an array of weights c
* omitted      allowed only for a single-output network (c = [1]) or with ``--output-norm``
"""
from __future__ import annotations

import re
from numbers import Integral
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np

from ..util.arrays import load_array
from ..errors import QueryError, ShapeError
from .norms import InputNorm, parse_input_norm
from .outputs import OutputSet, functional, parse_output_norm


# an output selector: a CLI spelling, or from Python an index, a pair (i, j) or weights c
Output = Union[str, int, tuple[int, int], Sequence[float], np.ndarray, None]


@dataclass
class Query:
    output: OutputSet             # the set C of seed vectors (a single c for a functional)
    input_norm: InputNorm

    @classmethod
    def make(cls, n_inputs: int, n_outputs: int, output: Output = None,
             input_norm: str | InputNorm = "linf", output_norm: str | None = None,
             center_output: Callable[[], np.ndarray] | None = None,
             base: Path | None = None) -> "Query":
        if output is not None and output_norm is not None:
            raise QueryError("give either --output (one scalar function) or --output-norm "
                             "(a norm on the output vector), not both")
        if output_norm is not None:
            out = parse_output_norm(output_norm, n_outputs, center_output or (lambda: None))
        else:
            out = functional(parse_output(output, n_outputs, base), output_name(output))
        norm = parse_input_norm(input_norm, base)
        norm.check_dim(n_inputs)
        return cls(out, norm)


def _index(i: str, m: int) -> int:
    k = int(i)
    if not -m <= k < m:
        raise ShapeError(f"output index {k} is out of range: the network has {m} outputs")
    return k % m


def output_name(spec) -> str:
    """The spelling of an ``output`` selector in results: the string itself, ``3``, ``0-1``,
    or the weights ``1.0,-1.0,0.0``."""
    if spec is None or isinstance(spec, str):
        return spec or "f"
    if isinstance(spec, tuple):
        return "-".join(str(int(i)) for i in spec)
    return ",".join(repr(float(v)) for v in np.ravel(spec))


def _margin(i, j, m: int, what: str) -> np.ndarray:
    if _index(i, m) == _index(j, m):
        raise QueryError(f"--output {what}: f_i - f_i is identically zero")
    c = np.zeros(m)
    c[_index(i, m)] += 1.0
    c[_index(j, m)] -= 1.0
    return c


def _unit(i, m: int) -> np.ndarray:
    c = np.zeros(m)
    c[_index(i, m)] = 1.0
    return c


def _from_text(s: str, m: int, base: Path | None) -> np.ndarray:
    if re.fullmatch(r"-?\d+", s):
        return _unit(s, m)
    if re.fullmatch(r"\d+\s*-\s*\d+", s):
        return _margin(*(t.strip() for t in s.split("-")), m, s)
    if s.endswith(".npy") or s.endswith(".npz"):
        path = Path(s) if Path(s).exists() or base is None else base / s
        return load_array(path, "--output weights", error=QueryError).ravel()
    if "," in s:
        try:
            return np.array([float(t) for t in s.split(",")])
        except ValueError:
            raise QueryError(f"--output {s!r}: weights must be numbers") from None
    raise QueryError(f"cannot read --output {s!r}; use an index (3), a margin (0-1), "
                     "weights (1,-1,0) or a .npy file")


def _from_object(spec, m: int) -> np.ndarray:
    """The Python API's selectors: an int (f_i), a pair (i, j) (f_i - f_j), an array c."""
    if isinstance(spec, (bool, np.bool_)):
        raise QueryError(f"output={spec!r}: give an index, a pair (i, j) or an array of weights")
    if isinstance(spec, Integral):
        return _unit(spec, m)
    if isinstance(spec, tuple):
        if len(spec) != 2 or not all(isinstance(i, Integral) for i in spec):
            raise QueryError(f"output={spec!r}: a tuple is a pair of output indices (i, j) for "
                             "f_i - f_j; give weights as a list or array")
        return _margin(spec[0], spec[1], m, output_name(spec))
    try:
        c = np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError):
        raise QueryError(f"output={spec!r}: give an index, a pair (i, j) or an array of "
                         "weights") from None
    if c.ndim != 1:
        raise ShapeError(f"output weights must be a vector, not an array of shape {c.shape}")
    return c


def parse_output(spec, m: int, base: Path | None = None) -> np.ndarray:
    """The vector c of the scalar function <c, f> selected by ``spec`` (a CLI string, or an
    int, pair or array from the Python API)."""
    if spec is None or (isinstance(spec, str) and spec.strip() == ""):
        if m == 1:
            return np.ones(1)
        raise QueryError(f"the network has {m} outputs: choose a scalar function with --output, "
                         "e.g. --output 0 (f_0) or --output 0-1 (the margin f_0 - f_1), or a "
                         "norm on the output vector with --output-norm linf|l1|margin")
    c = _from_text(spec.strip(), m, base) if isinstance(spec, str) else _from_object(spec, m)
    if c.size != m:
        raise ShapeError(f"--output has {c.size} weights but the network has {m} outputs")
    if not np.all(np.isfinite(c)):
        raise QueryError("--output weights must be finite")
    return c
