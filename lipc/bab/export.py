"""The open nodes of a stopped branch-and-bound run as a MIP library (``--export-nodes DIR``).

Why: a hard query becomes a set of smaller, reproducible MIPs any solver can attack (and
``lipc bench solve DIR`` re-solves them).  The nodes not pruned at the stop (open, and those
waiting to be bounded) cover every part of the domain where the constant may exceed the run's
certified lower bound, so

    constant = max(lower bound, max over the instances of minus their optimum)

(the files minimise the negated objective, as every lipc MIP file).  Each instance is the node's
own MIP, compiled like the search compiles it (the query with the node's splits: clamped
bounds and sign rows) and written by the MPS emitter.  Layout, as ``lipc bench build``'s::

    instances/<node>.mps.gz    one node MIP; <node> is its path from the root (node_0-1-1)
    bab-nodes.solu             =unkn= per instance (no node optimum is known at the stop)
    bab-nodes.csv              per node: splits, size, its certified upper bound
    README.md                  the run's interval, its lower bound and how to combine

Writes go through the folder's ownership ledger (lipc.util.ownership): a folder holding a file
lipc did not write is refused, and only the ledger's files are overwritten or pruned.
"""
from __future__ import annotations

import io
from pathlib import Path

from ..compiler.pipeline import Problem, lower_problem
from ..emit import WRITERS
from ..util.tables import csv_text
from ..util.ownership import Ledger
from ..verify.settle import describe_output
from .checkpoint import Pending, Snapshot, lipc_version
from .node import node_problem

LIBRARY = "bab-nodes"
FIELDS = ["name", "depth", "splits", "rows", "columns", "binaries", "nonzeros", "upper",
          "file_lower", "unit"]


def open_library(out_dir: str | Path) -> Ledger:
    """The library folder, checked (and created) before the run: refused when it holds
    anything lipc did not write."""
    return Ledger.open(out_dir, ("instances",), "node library")


def _nodes(s: Snapshot) -> list[Pending]:
    """Every node not pruned at the stop, with its certified bound, in key order."""
    nodes = [Pending(r.key, r.splits, r.upper) for r in s.open] + list(s.pending)
    return sorted(nodes, key=lambda q: q.key)


def instance_name(key: tuple) -> str:
    return "node_" + ("-".join(map(str, key)) or "root")


def write_library(ledger: Ledger, p: Problem, s: Snapshot, lower: float | None, status: str,
                  bounds: str) -> list[dict]:
    """Compile and write every node of ``s`` (see the module docstring); returns the CSV rows.
    Instances of an earlier export into the same folder that are not nodes now are removed."""
    rows = []
    root = ledger.root
    for q in _nodes(s):
        mip = lower_problem(node_problem(p.network, p.domain, p.query, q.splits, bounds)).mip
        buf = io.BytesIO()
        WRITERS[".mps.gz"](mip, buf)
        name = instance_name(q.key)
        ledger.write(root / "instances" / f"{name}.mps.gz", buf.getvalue())
        rows.append(dict(name=name, depth=len(q.splits),
                         splits=" ".join(f"{z}[{j}]{'>=' if side else '<='}0"
                                         for z, j, side in q.splits),
                         rows=mip.n_rows, columns=mip.n_cols,
                         binaries=int(mip.meta["binaries"]), nonzeros=mip.nnz, upper=q.bound,
                         file_lower=-q.bound, unit=float(2.0 ** p.scale_exp)))
    keep = {f"{r['name']}.mps.gz" for r in rows}
    for f in ledger.files("instances"):
        if f.name not in keep:
            ledger.remove(f)
    ledger.write(root / f"{LIBRARY}.solu",
                 "".join(f"=unkn= {r['name']}\n" for r in rows).encode())
    ledger.write(root / f"{LIBRARY}.csv", csv_text(FIELDS, rows).encode())
    ledger.write(root / "README.md", _readme(p, rows, lower, status).encode())
    return rows


def _readme(p: Problem, rows: list[dict], lower: float | None, status: str) -> str:
    top = max((r["upper"] for r in rows), default=None)
    return "\n".join([
        f"# Node MIPs of a stopped branch-and-bound run (`{LIBRARY}`)",
        "",
        f"lipc {lipc_version()}, `lipc solve --engine bab`: the local Lipschitz constant of "
        f"{describe_output(p)} over {p.domain.description}, input norm "
        f"{p.query.input_norm.name}; the run stopped with status `{status}`.",
        "",
        f"- Certified lower bound of the run: {lower!r} (a point verified on the network).",
        f"- {len(rows)} open node(s); the largest node bound is {top!r}.",
        "",
        "Every instance minimises the NEGATED objective of its node, in units of",
        f"{2.0 ** p.scale_exp!r} of the constant (the run's problem is normalised by an exact",
        "power of two, column `unit`; the bounds here are in the same units). The constant is",
        "",
        "    unit x max(lower bound, max over instances of -optimum)",
        "",
        "exactly: the nodes not listed were pruned (bound at most the lower bound) or closed.",
        f"`lipc bench solve .` re-solves them (`{LIBRARY}.solu` lists each as `=unkn=`: no node",
        f"optimum is known yet); `{LIBRARY}.csv` gives each node's splits (pre-activation",
        "entries fixed to a sign), size and certified upper bound `upper`.",
        ""])
