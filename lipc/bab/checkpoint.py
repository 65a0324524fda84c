"""Stop and resume a branch-and-bound run: its state as a file (``--checkpoint`` / ``--resume``).

The state (:class:`Snapshot`) is what the search needs to go on as if it had never stopped: the
open nodes (split list, certified bound, chosen split), the nodes whose parent was split but that
are not bounded yet (split list and the parent's bound), the incumbent and the counters.  The
file is JSON, written atomically (a kill mid-write leaves the previous checkpoint), and carries

* a format tag, so lipc tells its own checkpoints from a user's file: an existing file without
  it is refused, never overwritten;
* the lipc version and a fingerprint of the question (the root node's MIP, compiled without IR
  passes as every node is, so it covers network, domain, norms and output) and of the settings
  the tree depends on: resuming under anything else is refused, since the stored bounds and
  splits would belong to another problem.

The incumbent is stored as its point, pattern and seed and re-certified on resume, so a lower
bound never comes from the file alone.  Workers, scheduler and limits are free to change: the
tree does not depend on them, and the node limit counts the nodes of the whole run.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np

from ..core.mip import FlatMIP
from ..emit import write_bytes
from ..errors import LipcError
from .node import Candidate, Inherited, NodeResult, Split

FORMAT = "lipc-bab-checkpoint/1"
OVERHEAD = 0.05          # at most this share of a run's time goes to writing its checkpoint
COUNTS = ("lower", "done_upper", "nodes", "pruned", "closed", "hand_offs", "batches")


def lipc_version() -> str:
    """The installed lipc's version (read from its metadata: importing the ``lipc`` package
    here would be an import cycle through lipc.api)."""
    return importlib.metadata.version("lipc")


class CheckpointError(LipcError):
    """A checkpoint file that cannot be written, read, or does not belong to this run."""


class Pending(NamedTuple):
    """A node whose parent was split but which is not bounded yet; ``bound`` is the parent's,
    ``inherited`` the parent's IR bounds it starts from (stored too: a resumed run bounds its
    nodes exactly as the uninterrupted run would)."""

    key: tuple
    splits: tuple[Split, ...]
    bound: float
    inherited: Inherited | None = None


@dataclass
class Snapshot:
    """A consistent state of the search (between two batches)."""

    open: list[NodeResult]
    pending: list[Pending]
    lower: float | None
    witness: Any
    done_upper: float
    nodes: int
    pruned: int
    closed: int
    hand_offs: int
    batches: int


def mip_digest(mip: FlatMIP) -> str:
    """A digest of everything in a flat MIP (names, bounds, matrix, objective)."""
    h = hashlib.sha256("\0".join(mip.col_names + ["|"] + mip.row_names).encode())
    for a in (mip.lb, mip.ub, mip.integer, mip.obj, mip.indptr, mip.indices, mip.data,
              mip.row_lo, mip.row_hi, np.array([mip.obj_const])):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def run_fingerprint(root: FlatMIP, settings: dict) -> str:
    """The question (``root``: the root node's MIP) and the settings the tree depends on."""
    h = hashlib.sha256(mip_digest(root).encode())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def _splits(raw) -> tuple[Split, ...]:
    return tuple((str(z), int(j), int(side)) for z, j, side in raw)


def _bounds(b: Inherited | None) -> dict | None:
    """IR bounds as JSON lists (floats round-trip exactly)."""
    if b is None:
        return None
    return {k: [np.asarray(lo, float).tolist(), np.asarray(hi, float).tolist()]
            for k, (lo, hi) in b.items()}


def _inherited(raw: dict | None) -> Inherited | None:
    if raw is None:
        return None
    return {str(k): (np.array(lo, float), np.array(hi, float)) for k, (lo, hi) in raw.items()}


def _node(n: NodeResult) -> dict:
    return dict(key=list(n.key), splits=[list(s) for s in n.splits], upper=n.upper,
                split=None if n.split is None else list(n.split), binaries=n.binaries,
                bounds=_bounds(n.bounds))


def _open_node(d: dict) -> NodeResult:
    split = None if d["split"] is None else (str(d["split"][0]), int(d["split"][1]))
    return NodeResult(tuple(int(k) for k in d["key"]), _splits(d["splits"]), float(d["upper"]),
                      split=split, binaries=int(d["binaries"]),
                      bounds=_inherited(d.get("bounds")))


def _witness(w) -> dict | None:
    if w is None:
        return None
    return dict(x=list(map(float, w.x_solver)), c=None if w.c is None else list(map(float, w.c)),
                pattern={k: list(map(int, v)) for k, v in w.pattern.items()}, value=w.value)


def encode(s: Snapshot, fingerprint: str) -> bytes:
    """The checkpoint file's bytes (JSON; floats round-trip exactly, +-inf as Infinity)."""
    body = dict(format=FORMAT, lipc_version=lipc_version(), fingerprint=fingerprint,
                open=[_node(n) for n in s.open],
                pending=[dict(key=list(q.key), splits=[list(t) for t in q.splits],
                              bound=q.bound, inherited=_bounds(q.inherited))
                         for q in s.pending],
                incumbent=_witness(s.witness),
                **{k: getattr(s, k) for k in COUNTS})
    return (json.dumps(body, separators=(",", ":")) + "\n").encode()


def _read(path: str) -> dict | None:
    """The checkpoint at ``path``; None when there is none; CheckpointError when the file is
    not a lipc checkpoint (or not a regular file: links are never followed)."""
    if not os.path.lexists(path):
        return None
    try:
        if not os.path.isfile(path) or os.path.islink(path):
            raise CheckpointError(f"{path} is not a lipc checkpoint (not a regular file); "
                                  "choose a new file name")
        with open(path, "rb") as fh:
            body = json.loads(fh.read())
    except OSError as e:
        raise CheckpointError(f"cannot read the checkpoint {path}: {e.strerror or e}") from None
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise CheckpointError(f"{path} exists and is not a lipc checkpoint; lipc never "
                              "overwrites it: choose a new file name")
    return body


def _same_run(path: str, body: dict, fingerprint: str) -> None:
    if body.get("lipc_version") != lipc_version():
        raise CheckpointError(f"{path} was written by lipc {body.get('lipc_version')}, this is "
                              f"{lipc_version()}: its bounds may not hold here; start a new run")
    if body.get("fingerprint") != fingerprint:
        raise CheckpointError(f"{path} is the checkpoint of another model, question or "
                              "branch-and-bound settings (batch, bounds, hand-off, gap, solver, "
                              "seed); resume with the same ones, or checkpoint to a new file")


def check_target(path: str, fingerprint: str) -> None:
    """Before a run that does not resume from ``path`` writes its checkpoint there: refuse a
    file lipc did not write, and any checkpoint (it may be the only copy of hours of search)."""
    body = _read(path)
    if body is not None:
        _same_run(path, body, fingerprint)
        raise CheckpointError(f"{path} holds a checkpoint of this run: continue it with "
                              "--resume, or remove the file to start over")


def load(path: str, fingerprint: str,
         certify: Callable[[Candidate], tuple[float | None, Any]]) -> Snapshot:
    """The state saved at ``path`` for the run of ``fingerprint``; the incumbent re-certified
    by ``certify``."""
    body = _read(path)
    if body is None:
        raise CheckpointError(f"--resume {path}: no such file")
    _same_run(path, body, fingerprint)
    try:
        inc = body["incumbent"]
        lower, witness = None, None
        if inc is not None:
            c = None if inc["c"] is None else np.array(inc["c"], float)
            cand = Candidate(np.array(inc["x"], float),
                             {k: np.array(v, int) for k, v in inc["pattern"].items()}, c,
                             inc["value"])
            lower, witness = certify(cand)
        return Snapshot([_open_node(d) for d in body["open"]],
                        [Pending(tuple(int(k) for k in d["key"]), _splits(d["splits"]),
                                 float(d["bound"]), _inherited(d.get("inherited")))
                         for d in body["pending"]],
                        lower, witness, float(body["done_upper"]), int(body["nodes"]),
                        int(body["pruned"]), int(body["closed"]), int(body["hand_offs"]),
                        int(body["batches"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: a damaged lipc checkpoint ({e!r})") from None


def save(path: str, s: Snapshot, fingerprint: str) -> None:
    """Write the checkpoint atomically (temp file and rename)."""
    try:
        write_bytes(path, encode(s, fingerprint))
    except OSError as e:
        raise CheckpointError(f"cannot write the checkpoint {path}: {e.strerror or e}") from None


class Saver:
    """The search's ``on_round``: keeps the last snapshot (for lipc.bab.export) and writes it
    to ``path`` (None: nowhere) at every round, unless writing would take more than OVERHEAD
    of the run's time; :meth:`flush` at the stop writes the last one in any case.

    Why the limit: a checkpoint grows with the open set (measured: 5000 open nodes of depth 20,
    1.7 MB, 0.2 s to encode and write) while a batch takes about a second."""

    def __init__(self, path: str | None = None, fingerprint: str = ""):
        self.path, self.fingerprint = path, fingerprint
        self.last: Snapshot | None = None
        self.written = True
        self.cost, self.since = 0.0, time.perf_counter()

    def __call__(self, s: Snapshot) -> None:
        self.last, self.written = s, False
        if time.perf_counter() - self.since >= self.cost / OVERHEAD:
            self.flush()

    def flush(self) -> None:
        if self.path is None or self.written:
            return
        t0 = time.perf_counter()
        save(self.path, self.last, self.fingerprint)
        self.since = time.perf_counter()
        self.cost, self.written = self.since - t0, True
