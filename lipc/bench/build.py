"""``lipc bench build``: compile every manifest instance to ``instances/<name>.mps.gz``, solve it,
and write the library's ``<lib>.solu`` and ``<lib>.csv`` (issue 7).

Layout of the output directory::

    instances/<name>.mps.gz      the MIP (minimises the negated Lipschitz objective)
    networks/random_*.onnx       networks drawn from seeded generators
    results/<name>.json          one record per finished instance (the resume marker)
    <lib>.solu                   =opt= / =best= / =inf= / =unkn= lines, in the files' own sense
    <lib>.csv                    rows, columns, binaries, nonzeros, max big-M, status, value

Every file is written atomically (temp file + rename), so an interrupted build leaves no partial
file; running it again skips each instance whose .mps.gz and result record exist (and whose
record matches the manifest entry).  Instance files are byte-identical across builds and worker
counts: compilation is deterministic and the gzip header carries no name or time.
"""
from __future__ import annotations

import csv
import io
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..emit import atomic_write
from ..errors import LipcError
from .manifest import Instance, Manifest, load_manifest, random_file_name, random_onnx_bytes

# file_value: the optimum (or best value) in the file's own sense, as in the .solu file;
# value: the verified Lipschitz constant (the maximum, -file_value), empty unless proved optimal
CSV_FIELDS = ["name", "rows", "columns", "binaries", "nonzeros", "max_big_m", "status",
              "solu", "file_value", "value"]


def _cell(v) -> str:
    return "" if v is None else repr(float(v)) if isinstance(v, float) else str(v)


@dataclass
class BuildReport:
    library: str
    out_dir: str
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode()))


def _read_result(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _network_path(inst: Instance, out: Path) -> str:
    if inst.network.startswith("random:"):
        return str(out / "networks" / random_file_name(inst.network))
    return inst.network


def _classify(status: str, seconds: float, easy_seconds: float) -> str:
    """MIPLIB style: easy (solved quickly), hard (solved, slowly), open (not solved)."""
    if status != "optimal":
        return "open"
    return "easy" if seconds <= easy_seconds else "hard"


def build_one(inst: Instance, out_dir: str, time_limit: float | None, solver: str,
              easy_seconds: float) -> dict:
    """Compile, write and solve one instance; returns (and writes) its result record."""
    from .. import api
    from ..compiler import CompileOptions
    from ..solvers import SolveOptions

    out = Path(out_dir)
    net = api.load(_network_path(inst, out))
    copts = CompileOptions(bounds=inst.bounds, formulation=inst.formulation,
                           passes=inst.passes)
    mps = out / "instances" / f"{inst.name}.mps.gz"
    p, low = api.compile(net, inst.domain, inst.output, inst.input_norm, out=mps,
                         compile_options=copts, output_norm=inst.output_norm)
    res = api.solve_compiled(p, low, SolveOptions(time_limit=time_limit, solver=solver))
    # the file minimises the negated objective (constant included): its values are -value
    inc = res.incumbent
    if res.status == "optimal" and inc is not None:
        solu, file_value = "opt", -inc + 0.0
    elif res.status == "infeasible":
        solu, file_value = "inf", None
    elif inc is not None:
        solu, file_value = "best", -inc + 0.0
    else:
        solu, file_value = "unkn", None
    s = res.stats
    record = dict(name=inst.name, key=inst.key(), rows=s["rows"], columns=s["columns"],
                  binaries=s["binaries"], nonzeros=s["nonzeros"],
                  max_big_m=float(s["max_big_m"]),
                  status=_classify(res.status, res.seconds, easy_seconds), solu=solu,
                  file_value=file_value, value=res.value, lower=res.lower, upper=res.upper,
                  solver_status=res.status, solver=res.solver, seconds=res.seconds)
    _write_text(out / "results" / f"{inst.name}.json",
                json.dumps(record, indent=1, default=float) + "\n")
    return record


def _finished(inst: Instance, out: Path) -> dict | None:
    if not (out / "instances" / f"{inst.name}.mps.gz").is_file():
        return None
    rec = _read_result(out / "results" / f"{inst.name}.json")
    return rec if rec is not None and rec.get("key") == inst.key() else None


def _solu_line(rec: dict) -> str:
    if rec["solu"] in ("opt", "best"):
        return f"={rec['solu']}= {rec['name']} {rec['file_value']!r}"
    return f"={rec['solu']}= {rec['name']}"


def build(manifest: Manifest | str | Path, out_dir: str | Path, workers: int = 1,
          time_limit: float | None = 60.0, solver: str = "auto",
          easy_seconds: float = 60.0) -> BuildReport:
    """Build (or resume) the library of ``manifest`` in ``out_dir``."""
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    if workers < 1:
        raise LipcError(f"--workers must be at least 1, not {workers}")
    out = Path(out_dir)
    try:
        for sub in ("instances", "results", "networks"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        for spec in sorted({i.network for i in m.instances if i.network.startswith("random:")}):
            p = out / "networks" / random_file_name(spec)
            data = random_onnx_bytes(spec)
            if not p.is_file() or p.read_bytes() != data:
                atomic_write(p, lambda fh, d=data: fh.write(d))
    except OSError as e:
        raise LipcError(f"cannot write the library in {out}: {e.strerror or e}") from e

    report = BuildReport(m.name, str(out))
    records: dict[str, dict] = {}
    todo = []
    for inst in m.instances:
        rec = _finished(inst, out)
        if rec is not None:
            records[inst.name] = rec
            report.skipped.append(inst.name)
        else:
            todo.append(inst)
    args = (str(out), time_limit, solver, easy_seconds)
    if workers == 1 or len(todo) <= 1:
        for inst in todo:
            records[inst.name] = build_one(inst, *args)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            futures = {inst.name: pool.submit(build_one, inst, *args) for inst in todo}
            for name, fut in futures.items():
                records[name] = fut.result()
    report.built = [i.name for i in todo]
    ordered = [records[i.name] for i in m.instances]
    report.results = ordered

    _write_text(out / f"{m.name}.solu", "".join(_solu_line(r) + "\n" for r in ordered))
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in ordered:
        w.writerow({k: _cell(r.get(k)) for k in CSV_FIELDS})
    _write_text(out / f"{m.name}.csv", buf.getvalue())
    return report


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
        table[parts[1]] = (kind, float(parts[2]) if len(parts) == 3 else None)
    return table
