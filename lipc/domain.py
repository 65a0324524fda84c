"""Input domains: parsing the user's spelling and checking the set is bounded and non-empty.

A domain is a box (every kind reduces to its box for bound inference) plus, for later kinds,
linear constraints.  The specification strings are a table ``{kind: parser}``:

* ``box:LO:HI``                 LO, HI scalars, comma lists or ``.npy`` files
* ``linf:CENTER:RADIUS[:LO:HI]``   l_inf ball, optionally clipped to [LO, HI] (e.g. pixels in [0,1])
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DomainError, ShapeError


@dataclass
class Domain:
    lo: np.ndarray
    hi: np.ndarray
    description: str = ""

    @property
    def dim(self) -> int:
        return int(self.lo.shape[0])

    @property
    def center(self) -> np.ndarray:
        return (self.lo + self.hi) / 2


def _vector(text: str, dim: int, what: str, base: Path | None) -> np.ndarray:
    """A scalar (broadcast), a comma-separated list, or a .npy file holding ``dim`` numbers."""
    text = text.strip()
    if text.endswith(".npy") or text.endswith(".npz"):
        path = Path(text)
        if base is not None and not path.is_absolute() and not path.exists():
            path = base / path
        if not path.exists():
            raise DomainError(f"{what}: file not found: {text}")
        try:
            arr = np.load(path)
        except Exception as exc:
            raise DomainError(f"{what}: cannot read {text}: {exc}") from None
        if isinstance(arr, np.lib.npyio.NpzFile):
            arr = arr[arr.files[0]]
        arr = np.asarray(arr, dtype=np.float64).ravel()
    else:
        try:
            arr = np.array([float(v) for v in text.split(",")], dtype=np.float64)
        except ValueError:
            raise DomainError(f"{what}: {text!r} is not a number, a comma-separated list of "
                              "numbers or a .npy file") from None
    if arr.size == 1:
        arr = np.full(dim, arr[0])
    if arr.size != dim:
        raise ShapeError(f"{what} has {arr.size} entries but the network has {dim} inputs")
    return arr


def _box(args: list[str], dim: int, base: Path | None) -> Domain:
    if len(args) != 2:
        raise DomainError("box domain is box:LO:HI (scalars, comma lists or .npy files)")
    lo = _vector(args[0], dim, "box lower bound", base)
    hi = _vector(args[1], dim, "box upper bound", base)
    return Domain(lo, hi, f"box [{args[0]}, {args[1]}]")


def _linf(args: list[str], dim: int, base: Path | None) -> Domain:
    if len(args) not in (2, 4):
        raise DomainError("l_inf ball is linf:CENTER:RADIUS or linf:CENTER:RADIUS:LO:HI "
                          "(clipped to [LO, HI])")
    center = _vector(args[0], dim, "ball centre", base)
    radius = _vector(args[1], dim, "ball radius", base)
    if np.any(radius < 0):
        raise DomainError("ball radius must be non-negative")
    lo, hi = center - radius, center + radius
    desc = f"l_inf ball around {args[0]} of radius {args[1]}"
    if len(args) == 4:
        lo = np.maximum(lo, _vector(args[2], dim, "clip lower bound", base))
        hi = np.minimum(hi, _vector(args[3], dim, "clip upper bound", base))
        desc += f" clipped to [{args[2]}, {args[3]}]"
    return Domain(lo, hi, desc)


DOMAIN_KINDS: dict[str, Callable[[list[str], int, Path | None], Domain]] = {
    "box": _box,
    "linf": _linf,
}
_KIND_ALIASES = {"box": "box", "linf": "linf", "inf": "linf", "l_inf": "linf", "ball": "linf"}


def parse_domain(spec: str, dim: int, base: Path | None = None) -> Domain:
    """Parse a domain specification for a network with ``dim`` inputs and validate it."""
    kind, _, rest = spec.partition(":")
    key = _KIND_ALIASES.get(kind.strip().lower())
    if key is None or not rest:
        raise DomainError(f"unknown domain {spec!r}; use box:LO:HI or linf:CENTER:RADIUS[:LO:HI]")
    return check_domain(DOMAIN_KINDS[key](rest.split(":"), dim, base))


def box_domain(lo, hi, dim: int | None = None) -> Domain:
    """A box from arrays or scalars (Python API)."""
    lo, hi = np.atleast_1d(np.asarray(lo, float)), np.atleast_1d(np.asarray(hi, float))
    if dim is not None:
        lo, hi = np.broadcast_to(lo, (dim,)).copy(), np.broadcast_to(hi, (dim,)).copy()
    return check_domain(Domain(lo, hi, "box"))


def check_domain(d: Domain) -> Domain:
    """Refuse domains on which a Lipschitz query is meaningless or unbounded."""
    if np.any(np.isnan(d.lo)) or np.any(np.isnan(d.hi)):
        raise DomainError("domain bounds contain NaN")
    if np.any(~np.isfinite(d.lo)) or np.any(~np.isfinite(d.hi)):
        raise DomainError("domain is unbounded (infinite bound); a MIP needs a bounded domain")
    empty = np.flatnonzero(d.lo > d.hi)
    if empty.size:
        i = int(empty[0])
        raise DomainError(f"domain is empty: coordinate {i} has lower bound {d.lo[i]!r} above "
                          f"upper bound {d.hi[i]!r}")
    flat = np.flatnonzero(d.lo == d.hi)
    if flat.size:
        i = int(flat[0])
        raise DomainError(f"domain has empty interior: coordinate {i} is fixed at {d.lo[i]!r} "
                          "(a local Lipschitz constant needs an open region; give it a width)")
    return d
