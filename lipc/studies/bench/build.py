"""``lipc bench build``: compile every manifest instance to ``instances/<name>.mps.gz``, solve it,
and write the library's ``<lib>.solu``, ``<lib>.csv`` and ``README.md`` (issue 7).

Layout of the output directory::

    instances/<name>.mps.gz      the MIP (minimises the negated Lipschitz objective)
    solutions/<name>.sol         MIPLIB solution file of each =opt= / =best= value (lipc.studies.
                                 bench.solfile): the exactly re-checked solution behind it
    networks/<family>_*.onnx     networks drawn from seeded generators (random, trained)
    results/<name>.json          one record per finished instance: the resume marker and run log
                                 (solve time, solver, the exact check's details)
    results/<name>.log           the solver's log of the solve that made the record
    <lib>.solu                   =opt= / =best= / =inf= / =unkn= lines, in the files' own sense
    <lib>.csv                    sizes, big-M and coefficient ranges, status, tags, values
    README.md                    what the library holds and how it was made

Workers (local processes or a Dask cluster, lipc.util.workers) compile and solve; only this
driver writes, each file atomically (temp file + rename) and recorded in the folder's ownership
ledger (lipc.util.ownership: a folder holding anything else is refused, and only recorded files
are ever overwritten or pruned), so an interrupted build leaves no partial file
(temp files of a killed run are removed on the next) and running it again skips each instance
whose file and record exist and match the manifest entry.  Every file except results/ is
byte-identical across builds, worker counts and schedulers: compilation is deterministic, the
gzip header carries no name or time, and no timing goes into the summaries.

An ``=opt=`` or ``=best=`` line is written only after the solver's solution has been re-checked
against the constraints of the written file in exact rational arithmetic
(lipc.studies.bench.exact_check, MIPLIB's 1e-9 tolerances); its value is the file's objective
recomputed exactly at that solution, which is published as ``solutions/<name>.sol``.  A
solution failing the check gives ``=unkn=`` and the tag ``numerics``.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from ...emit import WRITERS
from ...errors import LipcError
from ...util.ownership import Ledger
from ...util.tables import csv_text
from ...util.workers import Parallelism, Progress, run_jobs
from .manifest import (Instance, Manifest, generated_file_name, generated_onnx_bytes,
                       is_generated, load_manifest)
from .readme import library_readme
from ... import api
from ...compiler.pipeline import CompileOptions
from ...solvers import SolveOptions
from .exact_check import check_solution, read_mps
from .solfile import sol_text

# file_value: the optimum (or best value) in the file's own sense, as in the .solu file;
# value: the verified Lipschitz constant (the maximum, -file_value), empty unless proved optimal;
# coef/obj/rhs_min/max: smallest and largest |nonzero|; check_*: the exact-rational re-check
CSV_FIELDS = ["name", "rows", "columns", "binaries", "nonzeros", "min_big_m", "max_big_m",
              "coef_min", "coef_max", "obj_min", "obj_max", "rhs_min", "rhs_max", "status", "tags",
              "solu", "file_value", "value", "check_violation"]

CHECK_TOLERANCE = 1e-9          # MIPLIB's solution checker: feasibility and objective, 1e-9
NUMERICS_COEF_RATIO = 1e7       # tag "numerics": matrix coefficients spanning over 7 decades
NUMERICS_BIG_M = 1e6            # ... or a big-M constant above this
NOT_REPRODUCIBLE = "not-reproducible"   # tag: stopped by the wall clock, so written as =unkn=
# solver statuses of a solve stopped by a limit (time or nodes) before proving anything
_STOPPED = frozenset({"time_limit", "no_solution"})


@dataclass
class BuildReport:
    library: str
    out_dir: str
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


SUBDIRS = ("instances", "solutions", "results", "networks")
_SOLU_KINDS = {"opt", "best", "inf", "unkn"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _valid_record(rec, inst: Instance) -> bool:
    """A results record fit to reach the .solu and the CSV: the schema lipc writes, the
    instance's own name, and values consistent with their kind (a finite value exactly for
    =opt= / =best=, the =opt= value the exact check's objective)."""
    if not isinstance(rec, dict) or rec.get("name") != inst.name:
        return False
    if rec.get("solu") not in _SOLU_KINDS or not isinstance(rec.get("key"), str):
        return False
    if not isinstance(rec.get("sha256"), str) or not _HEX64.match(rec["sha256"]):
        return False
    fv = rec.get("file_value")
    if (rec["solu"] in ("opt", "best")) != _number(fv):
        return False
    if rec["solu"] in ("opt", "best") and not (
            rec.get("check_feasible") is True and rec.get("check_objective") == fv
            and isinstance(rec.get("sol_sha256"), str) and _HEX64.match(rec["sol_sha256"])):
        return False
    for k in CSV_FIELDS:
        v = rec.get(k)
        if not (v is None or _number(v) or (isinstance(v, str) and "\n" not in v
                                             and "\r" not in v)):
            return False
    return all(_number(rec.get(k)) for k in ("rows", "columns", "binaries", "nonzeros"))


def _read_result(path: Path, ledger: Ledger) -> dict | None:
    if not ledger.owns(path):
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _classify(status: str, seconds: float, easy_seconds: float) -> str:
    """MIPLIB style: easy (solved quickly), hard (solved, slowly), open (not solved)."""
    if status != "optimal":
        return "open"
    return "easy" if seconds <= easy_seconds else "hard"


def _load_network(inst: Instance, generated: bytes | None):
    """The instance's network: its file, or the ONNX bytes of a generated one, which the driver
    made once and sent along (no file system shared with the driver needed for those)."""
    if generated is None:
        return api.load(inst.network)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / generated_file_name(inst.network)
        p.write_bytes(generated)
        return api.load(p)


def _ranges(mip) -> dict:
    """MIPLIB-style numerics columns: the range of |nonzero| matrix, objective and rhs values."""
    def span(v):
        a = np.abs(v[np.isfinite(v) & (v != 0)])
        return (float(a.min()), float(a.max())) if a.size else (None, None)
    sides = np.concatenate([mip.row_lo, mip.row_hi])
    (cmin, cmax), (omin, omax), (rmin, rmax) = span(mip.data), span(mip.obj), span(sides)
    return dict(coef_min=cmin, coef_max=cmax, obj_min=omin, obj_max=omax, rhs_min=rmin,
                rhs_max=rmax)


def _tags(inst: Instance, ranges: dict, max_big_m: float, check_ok: bool,
          wall_clock: bool) -> str:
    tags = [inst.formulation, f"in_{inst.question.input_norm}", "generated" if is_generated(
        inst.network) else "file"] + ([NOT_REPRODUCIBLE] if wall_clock else [])
    cmin, cmax = ranges["coef_min"], ranges["coef_max"]
    if (not check_ok or max_big_m > NUMERICS_BIG_M
            or (cmin is not None and cmax / cmin > NUMERICS_COEF_RATIO)):
        tags.append("numerics")
    return ";".join(tags)


def _exact_check(mps: bytes, mip, x) -> tuple[dict, tuple]:
    """Re-check the solver's solution against the constraints of the instance *file*, in exact
    rational arithmetic (lipc.studies.bench.exact_check); returns the record fields and the
    (file model, column values) its .sol file is written from."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "instance.mps.gz"
        path.write_bytes(mps)
        model = read_mps(path)
    values = dict(zip(mip.col_names, map(float, x)))
    chk = check_solution(model, values, tol=CHECK_TOLERANCE)
    return dict(check_feasible=chk.feasible, check_violation=chk.max_violation,
                check_worst=chk.worst, check_objective=chk.objective,
                check_seconds=time.perf_counter() - t0), (model, values)


def stopped_by_wall_clock(status: str, nodes: int | None, node_limit: int | None) -> bool:
    """Whether a solve ended on its wall-clock limit, whose outcome depends on machine load:
    a stop by the node limit is reported as ``node_limit`` (or ``no_solution`` with the node
    count at the limit), every other stop came from the clock."""
    if status not in _STOPPED:
        return False
    return node_limit is None or nodes is None or nodes < node_limit


def build_one(inst: Instance, generated: bytes | None, time_limit: float | None, solver: str,
              easy_seconds: float, node_limit: int | None = None) -> dict:
    """Compile and solve one instance (in a worker); returns its record and the instance file's
    bytes, which the driver writes.  An error names the instance."""
    try:
        return _build_one(inst, generated, time_limit, solver, easy_seconds, node_limit)
    except LipcError as e:
        raise LipcError(f"instance {inst.name}: {e}") from None


def _build_one(inst: Instance, generated: bytes | None, time_limit: float | None, solver: str,
               easy_seconds: float, node_limit: int | None) -> dict:

    net = _load_network(inst, generated)
    copts = CompileOptions(bounds=inst.bounds, formulation=inst.formulation,
                           passes=inst.passes)
    p, low = api.compile(net, inst.question, compile_options=copts)
    buf = io.BytesIO()
    WRITERS[".mps.gz"](low.mip, buf)
    mps = buf.getvalue()
    res = api.solve_compiled(p, low, SolveOptions(time_limit=time_limit, solver=solver,
                                                  node_limit=node_limit))
    # a value found before a wall-clock stop depends on load: it never reaches the library
    wall_clock = stopped_by_wall_clock(res.status, res.nodes, node_limit)
    # the file minimises the negated objective (constant included): its values are -value
    inc = res.incumbent
    check = dict(check_feasible=None, check_violation=None, check_worst=None,
                 check_objective=None, check_seconds=None)
    checked = None                          # (file model, column values) of the check
    if res.status == "infeasible":
        solu = "inf"
    elif inc is None or res.columns is None or wall_clock:
        solu = "unkn"
    else:
        check, checked = _exact_check(mps, low.mip, res.columns)
        agree = check["check_feasible"] and abs(check["check_objective"] + inc) <= \
            CHECK_TOLERANCE * abs(inc)                   # relative to the value's own scale
        # only an exactly re-checked solution is an =opt= / =best= reference (with its .sol
        # file); its value is the file's objective recomputed exactly at that solution
        solu = ("opt" if res.status == "optimal" else "best") if agree else "unkn"
    file_value = sol = None
    if solu in ("opt", "best"):
        # the file minimises minus a Lipschitz constant: a positive value (a negative constant,
        # rounding at the exact level) is impossible, so it is clamped to 0
        file_value = min(check["check_objective"], 0.0)
        sol = sol_text(*checked, file_value).encode()
    s = res.stats
    ranges = _ranges(low.mip)
    q = inst.question
    record = dict(name=inst.name, key=inst.key(), network=inst.network, domain=q.domain,
                  output=q.output or q.output_norm or "", rows=s["rows"],
                  columns=s["columns"], binaries=s["binaries"], nonzeros=s["nonzeros"],
                  min_big_m=float(low.mip.meta["min_big_m"]),
                  max_big_m=float(s["max_big_m"]), **ranges,
                  status=_classify(res.status, res.seconds, easy_seconds), solu=solu,
                  file_value=file_value, value=res.value, lower=res.lower, upper=res.upper,
                  solver_status=res.status, solver=res.solver, seconds=res.seconds,
                  nodes=res.nodes, solve_settings=_settings(time_limit, solver, node_limit),
                  tags=_tags(inst, ranges, float(s["max_big_m"]),
                             check["check_feasible"] is not False, wall_clock), **check,
                  sha256=hashlib.sha256(mps).hexdigest(),
                  sol_sha256=None if sol is None else hashlib.sha256(sol).hexdigest())
    log = "".join(line.rstrip("\n") + "\n" for line in res.log).encode()
    return dict(record=record, mps=mps, sol=sol, log=log)


def _settings(time_limit: float | None, solver: str, node_limit: int | None) -> dict:
    """How an instance was solved (a record without a proved optimum is redone when it changes);
    no node limit keeps the key set of libraries built before the limit existed."""
    extra = {} if node_limit is None else dict(node_limit=node_limit)
    return dict(time_limit=time_limit, solver=solver, **extra)


def _store(ledger: Ledger, result: dict) -> dict:
    """Write one finished instance: its file, its solution (or drop an earlier run's) and the
    solver's log first, then the record that marks it done."""
    rec = result["record"]
    out = ledger.root
    ledger.write(out / "instances" / f"{rec['name']}.mps.gz", result["mps"])
    sol = out / "solutions" / f"{rec['name']}.sol"
    if result["sol"] is None:
        ledger.remove(sol)
    else:
        ledger.write(sol, result["sol"])
    ledger.write(out / "results" / f"{rec['name']}.log", result["log"])
    ledger.write(out / "results" / f"{rec['name']}.json",
                 (json.dumps(rec, indent=1, default=float) + "\n").encode())
    return rec


def _finished(inst: Instance, ledger: Ledger, settings: dict) -> dict | None:
    """The record of an instance finished by an earlier run of the same manifest entry (same
    network and files); one without a proved optimum only if it was solved the same way (a
    longer time limit or another solver may now solve it)."""
    mps = ledger.root / "instances" / f"{inst.name}.mps.gz"
    rec = _read_result(ledger.root / "results" / f"{inst.name}.json", ledger)
    if not _valid_record(rec, inst) or rec["key"] != inst.key() or not ledger.owns(mps):
        return None
    if rec.get("solu") != "opt" and rec.get("solve_settings") != settings:
        return None
    sol = ledger.root / "solutions" / f"{inst.name}.sol"
    if rec["solu"] in ("opt", "best") and not (
            ledger.owns(sol) and _sha256(sol) == rec["sol_sha256"]):
        return None
    return rec if _sha256(mps) == rec.get("sha256") else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _solu_line(rec: dict) -> str:
    if rec["solu"] in ("opt", "best"):
        return f"={rec['solu']}= {rec['name']} {rec['file_value']!r}"
    return f"={rec['solu']}= {rec['name']}"


def _prepare(m: Manifest, out: Path) -> Ledger:
    """Open the library folder (lipc.ownership: refused when it holds anything lipc did not
    write there, e.g. the manifest's own folder), create its sub-folders and drop temp files an
    interrupted run left.  A folder holding another library is refused: mixing two would leave
    two .solu files."""
    others = sorted(p.name for p in out.glob("*.solu") if p.stem != m.name) \
        if out.is_dir() else []
    if others:
        raise LipcError(f"{out} holds another library ({', '.join(others)}); build "
                        f"{m.name!r} in a new folder")
    return Ledger.open(out, SUBDIRS, "library")


def _generated_networks(m: Manifest, todo: list[Instance], ledger: Ledger) -> dict[str, bytes]:
    """Make (once) the generated networks the pending instances need, and any missing from
    ``networks/`` (so the library is self-contained); a finished library trains nothing."""
    wanted = {i.network for i in todo if is_generated(i.network)}
    wanted |= {i.network for i in m.instances if is_generated(i.network)
               and not ledger.owns(ledger.root / "networks" / generated_file_name(i.network))}
    made = {}
    for spec in sorted(wanted):
        p = ledger.root / "networks" / generated_file_name(spec)
        made[spec] = generated_onnx_bytes(spec)
        if not ledger.owns(p) or p.read_bytes() != made[spec]:
            try:
                ledger.write(p, made[spec])
            except OSError as e:
                raise LipcError(f"cannot write {p}: {e.strerror or e}") from e
    return made


def build(manifest: Manifest | str | Path, out_dir: str | Path,
          parallelism: Parallelism = Parallelism(), time_limit: float | None = 60.0,
          solver: str = "auto", easy_seconds: float = 60.0,
          progress: TextIO | None = None, node_limit: int | None = None) -> BuildReport:
    """Build (or resume) the library of ``manifest`` in ``out_dir``.

    ``node_limit`` (default: the manifest's) is the deterministic budget of each solve: the
    status and =best= value of an open instance come from it; ``time_limit`` stays a safety
    stop, and an instance it stopped is tagged not-reproducible and written as =unkn=.

    Each finished instance is written as soon as it arrives, so an interrupted build keeps it
    and the next run skips it; the .solu, CSV and README are written once every instance is done.
    """
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    out = Path(out_dir)
    ledger = _prepare(m, out)
    report = BuildReport(m.name, str(out))
    records: dict[str, dict] = {}
    todo = []
    node_limit = m.node_limit if node_limit is None else node_limit
    settings = _settings(time_limit, solver, node_limit)
    for inst in m.instances:
        rec = _finished(inst, ledger, settings)
        if rec is not None:
            records[inst.name] = rec
            report.skipped.append(inst.name)
        else:
            todo.append(inst)
    nets = _generated_networks(m, todo, ledger)
    jobs = [(i.name, (i, nets.get(i.network), time_limit, solver, easy_seconds, node_limit))
            for i in todo]
    bar = Progress(len(jobs), f"bench {m.name}", progress)
    for name, result in run_jobs(build_one, jobs, parallelism, bar):
        records[name] = _store(ledger, result)
    report.built = [i.name for i in todo]
    report.results = [records[i.name] for i in m.instances]
    _prune(m, ledger)
    _write_summary(m, ledger, report.results)
    return report


def _prune(m: Manifest, ledger: Ledger) -> None:
    """Remove instances, records and networks an earlier version of the manifest made, so the
    library holds exactly what its .solu lists; only files lipc wrote (the ledger's) go."""
    names = {i.name for i in m.instances}
    nets = {generated_file_name(i.network) for i in m.instances if is_generated(i.network)}
    for sub, keep, suffixes in (("instances", names, (".mps.gz",)),
                                ("results", names, (".json", ".log")),
                                ("solutions", names, (".sol",)), ("networks", nets, ())):
        for f in ledger.files(sub):
            suffix = next((x for x in suffixes if f.name.endswith(x)), "")
            if f.name[:len(f.name) - len(suffix)] not in keep:
                ledger.remove(f)


def _write_summary(m: Manifest, ledger: Ledger, records: list[dict]) -> None:
    out = ledger.root
    ledger.write(out / f"{m.name}.solu",
                 "".join(_solu_line(r) + "\n" for r in records).encode())
    ledger.write(out / f"{m.name}.csv", csv_text(CSV_FIELDS, records).encode())
    ledger.write(out / "README.md", library_readme(m, records).encode())


def read_solu(path: str | Path) -> dict[str, tuple[str, float | None]]:
    """``name -> (kind, value)`` from a .solu file (kind: opt, best, inf, unkn)."""
    table = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (2, 3) or not (parts[0].startswith("=") and parts[0].endswith("=")):
            raise LipcError(f"{path}:{n}: not a .solu line: {line!r}")
        kind = parts[0].strip("=")
        try:
            table[parts[1]] = (kind, float(parts[2]) if len(parts) == 3 else None)
        except ValueError:
            raise LipcError(f"{path}:{n}: not a .solu line: {line!r}") from None
    return table
