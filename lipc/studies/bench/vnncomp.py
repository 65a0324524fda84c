"""``lipc bench build --vnncomp DIR``: a VNN-COMP benchmark folder as a library manifest.

A VNN-COMP benchmark is a folder with ``instances.csv``, one row ``onnx,vnnlib,timeout`` per
verification instance (paths relative to the folder, either file possibly ``.gz``).  Each row
becomes one instance: the network, the property's input region as the domain (``vnnlib:FILE``,
lipc.question.vnnlib), and a Lipschitz question named by the property's output constraints
(:func:`question`).  The timeout column is a verifier's budget, not lipc's: ``--time-limit`` and
``--node-limit`` set the build's.  The result is an ordinary :class:`Manifest`, so the library is
built, resumed and owned exactly as one from a TOML manifest.

The question (an instance has one objective, so one scalar question per property):

=============================================  ==============================================
output constraints of the property             question (``output`` / ``output_norm``)
=============================================  ==============================================
one linear function of Y (``Y_0 <= 3.99``,      its local Lipschitz constant
``Y_1 >= Y_0``; repeated atoms count once)      (``0``, ``1-0``, or the weights ``a,b,...``)
margins Y_j - Y_T against every other class     ``margin:T``: the largest local Lipschitz
(the robustness property of classifier T)       constant of the margins f_T - f_j, j != T
anything else                                   ``linf``: the largest local Lipschitz constant
                                                of a single output f_i (asked of every property)
=============================================  ==============================================

Two atoms are the same function when one is a positive or negative multiple of the other (a
Lipschitz constant does not see the sign or, up to scale, the offset).  Why margins: a
property's output constraints compare classes, and the Lipschitz constant of f_T - f_j over the
region is what bounds how far that comparison can move (certified robustness).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ...errors import LipcError
from ...question.question import Question
from ...question.vnnlib import output_constraints
from ...util.compressed import plain_name
from .manifest import Instance, Manifest

INSTANCES = "instances.csv"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _functionals(atoms: list[tuple[np.ndarray, float]]) -> list[np.ndarray]:
    """The distinct functions a . Y among the atoms, each scaled to largest |entry| 1 with a
    positive first nonzero entry (so a multiple of another is the same one)."""
    out: list[np.ndarray] = []
    for a, _ in atoms:
        a = a / np.abs(a).max()
        a = -a if a[np.flatnonzero(a)[0]] < 0 else a
        if not any(np.array_equal(a, b) for b in out):
            out.append(a + 0.0)
    return out


def _text(a: np.ndarray) -> str:
    """``i``, ``i-j`` or the weights of one function (the --output spellings)."""
    nz = np.flatnonzero(a)
    if nz.size == 1 and a[nz[0]] == 1:
        return str(nz[0])
    if nz.size == 2 and sorted(a[nz]) == [-1, 1]:
        i, j = (nz if a[nz[0]] == 1 else nz[::-1])
        return f"{i}-{j}"
    return ",".join(repr(float(v)) for v in a)


def _margin_target(fs: list[np.ndarray], m: int) -> int | None:
    """T when the functions are exactly the margins of class T against every other class."""
    pairs = []
    for a in fs:
        nz = np.flatnonzero(a)
        if nz.size != 2 or sorted(a[nz]) != [-1, 1]:
            return None
        pairs.append(set(int(i) for i in nz))
    if m < 3 or len(pairs) != m - 1:
        return None
    common = set.intersection(*pairs)
    return common.pop() if len(common) == 1 else None


def question(path: str | Path) -> dict[str, str]:
    """The instance keys ``output`` or ``output_norm`` for the property in ``path`` (the
    module's table)."""
    m, atoms = output_constraints(path)
    fs = _functionals(atoms)
    if len(fs) == 1:
        return {"output": _text(fs[0])}
    target = _margin_target(fs, m)
    if target is not None:
        return {"output_norm": f"margin:{target}"}
    return {"output_norm": "linf"}


def _stem(path: str) -> str:
    name = plain_name(path)
    for suffix in (".onnx", ".vnnlib"):
        if name.lower().endswith(suffix):
            name = name[:-len(suffix)]
    return _UNSAFE.sub("_", name).strip("_.-") or "x"


def _rows(table: Path) -> list[tuple[int, str, str]]:
    """(line, onnx, vnnlib) of each row of instances.csv (blank lines skipped)."""
    try:
        text = table.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LipcError(f"cannot read {table}: {getattr(e, 'strerror', None) or e}") from None
    rows = []
    for n, row in enumerate(csv.reader(text.splitlines()), 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) not in (2, 3) or not cells[0] or not cells[1]:
            raise LipcError(f"{table}:{n}: expected onnx,vnnlib,timeout, not {row!r}")
        rows.append((n, cells[0], cells[1]))
    if not rows:
        raise LipcError(f"{table} lists no instance")
    return rows


def vnncomp_manifest(folder: str | Path, name: str | None = None) -> Manifest:
    """The manifest of the VNN-COMP benchmark in ``folder`` (one instance per instances.csv
    row); the library is called ``name``, by default after the folder."""
    base = Path(folder).resolve()
    table = base / INSTANCES
    if not table.is_file():
        raise LipcError(f"{folder} is not a VNN-COMP benchmark folder: no {INSTANCES}")
    lib = _UNSAFE.sub("_", name or base.name).strip("_.-") or "vnncomp"
    instances, seen = [], set()
    for n, onnx, prop in _rows(table):
        paths = [(base / p).resolve() for p in (onnx, prop)]
        for p, given in zip(paths, (onnx, prop)):
            if not p.is_file():
                raise LipcError(f"{table}:{n}: {given} not found (relative to {base})")
        try:
            asked = question(paths[1])
        except LipcError as e:
            raise LipcError(f"{table}:{n}: {e}") from None
        stem = f"{_stem(onnx)}__{_stem(prop)}"
        key, k = stem, 1
        while key in seen:                         # the same pair listed twice
            k += 1
            key = f"{stem}_{k}"
        seen.add(key)
        instances.append(Instance(name=key, network=str(paths[0]),
                                  question=Question(domain=f"vnnlib:{paths[1]}", **asked)))
    return Manifest(lib, table, tuple(instances),
                    rebuild=f"lipc bench build --vnncomp {base.name} -o {lib}/",
                    origin="VNN-COMP benchmark list")
