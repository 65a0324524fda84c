"""The one loader of user-supplied ``.npy`` / ``.npz`` arrays.

Every array a user hands lipc by file (an output weight vector, input-norm weights or vertices,
domain centres/bounds/polytope rows, DSL constants) goes through :func:`load_array`, so each gets
every check once: the file is a real NumPy file (garbage bytes are refused), pickles are never
unpickled, only real numbers are accepted (no strings, objects or complex values), the values are
finite, and the size is bounded *before* anything is allocated.  The size bound matters for
``.npz``: a member is compressed, so a 1.5 MB archive can declare a 1.6 GB array; its header
states the shape, which is read and checked first.

The limit is :data:`MAX_ELEMENTS` entries per array (default 50 million, 400 MB of float64),
overridable with the environment variable ``LIPC_MAX_ARRAY_ELEMENTS``.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.lib import format as npformat

from ..errors import LipcError
from .limits import env_limit

MAX_ELEMENTS = 50_000_000
_ENV = "LIPC_MAX_ARRAY_ELEMENTS"


def max_elements() -> int:
    """The per-array entry limit (the environment variable overrides the default)."""
    return env_limit(_ENV, MAX_ELEMENTS)


def _header(fp, what: str, name: str, error: Callable[[str], LipcError]):
    """(shape, dtype) from an .npy header, refusing anything but finite-size real numbers."""
    try:
        version = npformat.read_magic(fp)
        read = npformat.read_array_header_1_0 if version == (1, 0) else \
            npformat.read_array_header_2_0
        shape, _, dtype = read(fp)
    except Exception as exc:
        raise error(f"{what}: {name} is not a NumPy array file ({exc})") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise error(f"{what}: {name} holds {dtype} values; expected real numbers")
    size = int(np.prod(shape, dtype=object)) if shape else 1
    limit = max_elements()
    if size > limit:
        raise error(f"{what}: {name} declares {size} entries (shape {tuple(shape)}), over the "
                    f"limit of {limit}; raise it with {_ENV} if this is intended")
    return shape


def _read(path: Path, what: str, key: str | None, error) -> np.ndarray:
    """The array of an .npy file, or member ``key`` (or the only member) of an .npz archive."""
    with open(path, "rb") as fp:
        magic = fp.read(4)
    if magic == b"PK\x03\x04" or (magic[:2] == b"PK" and path.suffix == ".npz"):
        try:
            z = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise error(f"{what}: {path.name} is not a valid .npz archive ({exc})") from None
        with z:
            names = [n[:-4] if n.endswith(".npy") else n for n in z.namelist()]
            if key is None and len(names) == 1:
                key = names[0]
            if key not in names:
                raise error(f"{what}: {path.name} holds the arrays {', '.join(names) or '(none)'}"
                            f": name one")
            member = z.namelist()[names.index(key)]
            with z.open(member) as fp:
                _header(fp, what, f"{path.name}[{key}]", error)
            with z.open(member) as fp:
                try:
                    return npformat.read_array(fp, allow_pickle=False)
                except Exception as exc:
                    raise error(f"{what}: cannot read {path.name}[{key}]: {exc}") from None
    if key is not None:
        raise error(f"{what}: {path.name} is a single array; it has no member {key!r}")
    with open(path, "rb") as fp:
        _header(fp, what, path.name, error)
        fp.seek(0)
        try:
            return npformat.read_array(fp, allow_pickle=False)
        except Exception as exc:
            raise error(f"{what}: cannot read {path.name}: {exc}") from None


def load_array(path: str | Path, what: str, *, key: str | None = None,
               ndim: int | None = None, size: int | None = None,
               error: Callable[[str], LipcError] = LipcError) -> np.ndarray:
    """A finite float64 array from ``path`` (.npy, or an .npz member), checked as described in
    the module docstring; ``ndim`` / ``size`` also check the shape.  ``what`` names the array in
    messages, ``error`` is the LipcError subclass raised (the caller's area)."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{what}: file not found: {path}")
    try:
        arr = _read(p, what, key, error)
    except (OSError, zipfile.BadZipFile, EOFError) as exc:    # also a corrupt .npz member
        raise error(f"{what}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") \
            from None
    arr = np.asarray(arr, dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise error(f"{what}: {p.name} has shape {arr.shape}; expected a {ndim}-D array")
    if size is not None and arr.size != size:
        raise error(f"{what}: {p.name} has {arr.size} entries; expected {size}")
    if not np.all(np.isfinite(arr)):
        raise error(f"{what}: {p.name} contains NaN or infinite values")
    return arr
