"""Fingerprints of a job's inputs, for resumable runs (lipc bench build, lipc track).

A finished job may be reused only if *nothing* it depended on changed: not its settings and not
the bytes of any file it read.  Specs name files inside strings (``box:lo.npy:hi.npy``,
``linf:x0.npy:0.1``, ``c.npy``), so every ``:``/``,``-separated token that names an existing file
is hashed by content; a path alone would let an edited file pass for the old one.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path


def _files_in(spec: str) -> list[Path]:
    return [Path(t) for t in re.split(r"[:,]", spec) if t and Path(t).is_file()]


def fingerprint(settings: dict, files: tuple[str, ...] = ()) -> str:
    """A digest of ``settings`` (JSON-able) and the contents of every file in ``files`` or named
    in a string value of ``settings``."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    named = [Path(f) for f in files]
    for v in settings.values():
        if isinstance(v, str):
            named += _files_in(v)
    for p in named:
        h.update(str(p).encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:20]
