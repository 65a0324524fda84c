"""Reading a user's file that may be gzip-compressed (``net.onnx.gz``, ``prop.vnnlib.gz``,
``prog.lipc.gz``): one reader, so every format gets ``.gz`` and the same guard.

Why a size limit: a small ``.gz`` can inflate a thousandfold, so the inflated size is checked
while decompressing, before memory fills, against the reader's own limit.  A ``.gz`` is told by
its name (as VNN-COMP benchmark folders and ``instances.csv`` name them)."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from ..errors import LipcError


def is_gzip_name(path: str | Path) -> bool:
    return Path(path).name.lower().endswith(".gz")


def plain_name(path: str | Path) -> str:
    """The file name without a trailing ``.gz`` (``prop.vnnlib.gz`` -> ``prop.vnnlib``)."""
    name = Path(path).name
    return name[:-3] if is_gzip_name(name) else name


def read_maybe_gzip(path: str | Path, limit: int, what: str,
                    error: type[LipcError] = LipcError) -> bytes:
    """The bytes of ``path``, decompressed when its name ends in ``.gz``; at most ``limit``
    bytes (inflated), else ``error`` naming the file and ``what`` it should hold."""
    p = Path(path)
    try:
        if not is_gzip_name(p):
            return p.read_bytes()
        with gzip.open(p, "rb") as f:
            data = f.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        verb = "decompress" if is_gzip_name(p) else "read"
        raise error(f"cannot {verb} {p}: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > limit:
        raise error(f"{p} inflates beyond {limit} bytes, more than {what} can hold")
    return data
