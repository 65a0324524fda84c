"""``lipc track``: Lipschitz constants through training (the LipMIP paper's Figure 1).

A folder of checkpoints becomes a table: one row per checkpoint and method (lipmip's exact
value or certified interval, and any estimator of lipc.estimators), with the guarantee kind,
status and time.  Every row is computed by exactly the call ``lipc estimate`` makes
(lipc.api.estimate), so a tracked value equals the single-checkpoint answer.

Checkpoints are ONNX files named on the command line as files, folders, glob patterns, or a TOML
manifest::

    [[checkpoint]]
    path = "run/epoch_10.onnx"      # relative to the manifest
    step = 10                       # optional: else the last number in the file name
    series = "l2"                   # optional: else the name of the file's folder

A *series* is one training run (the plot draws a line per series and method); the *step* orders
checkpoints within it.  Jobs run on lipc.util.workers (local processes or a Dask scheduler).  Each
finished row is written at once to ``OUT/rows/`` under a key of the checkpoint's bytes and the
question, so an interrupted run resumes where it stopped; ``OUT/track.csv`` and
``OUT/track.json`` are written at the end.
"""
from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TextIO

from .bench.manifest import read_toml
from ..util.ownership import Ledger
from ..errors import LipcError
from ..util.fingerprint import fingerprint
from ..util.tables import csv_text
from ..util.workers import Parallelism, Progress, run_jobs
from .. import api
from ..compiler.pipeline import CompileOptions
from ..question.question import Question
from ..estimators import ESTIMATORS
from ..solvers import SolveOptions, get
from ..solvers.run import race_names

CSV_FIELDS = ["series", "step", "checkpoint", "method", "guarantee", "value", "status", "lower",
              "upper", "seconds", "message"]
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Checkpoint:
    path: str
    step: int
    series: str


@dataclass(frozen=True)
class Tracking:
    """What is asked of every checkpoint (the question) and how (the other arguments of
    lipc.api.estimate)."""

    question: Question
    output_node: str | None = None
    samples: int = 1000
    seed: int = 0
    time_limit: float | None = None
    solver: str = "auto"
    bounds: str = "auto"
    formulation: str = "lipc"

    def to_dict(self) -> dict:
        """One flat record (track.json's ``question``, the rows' resume key)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "question"}
        return {**self.question.to_dict(), **d}


@dataclass
class TrackReport:
    rows: list[dict] = field(default_factory=list)
    computed: int = 0
    reused: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------- checkpoints

def _step_of(path: Path) -> int:
    numbers = re.findall(r"\d+", path.stem)
    if not numbers:
        raise LipcError(f"cannot tell the training step of {path}: put the step number in the "
                        "file name (e.g. epoch_0010.onnx) or list it in a TOML manifest")
    return int(numbers[-1])


def _from_manifest(path: Path) -> list[Checkpoint]:
    data = read_toml(path, "checkpoint manifest")
    entries = data.get("checkpoint")
    if not isinstance(entries, list) or not entries or set(data) - {"checkpoint"}:
        raise LipcError(f"bad checkpoint manifest {path}: expected [[checkpoint]] tables only")
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("path"), str) or \
                set(e) - {"path", "step", "series"}:
            raise LipcError(f"bad checkpoint manifest {path}: checkpoint {i} needs a 'path' "
                            "string and may have 'step' (an integer) and 'series'")
        p = (path.parent / e["path"]).resolve()
        if not p.is_file():
            raise LipcError(f"checkpoint manifest {path}: checkpoint {i}: "
                            f"{p} {'is a folder' if p.is_dir() else 'not found'}")
        step = e.get("step", None)
        if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
            raise LipcError(f"bad checkpoint manifest {path}: checkpoint {i}: step must be an "
                            "integer")
        out.append(Checkpoint(str(p), _step_of(p) if step is None else step,
                              str(e.get("series", p.parent.name))))
    return out


def _files_of(item: str) -> list[Path]:
    p = Path(item)
    if p.is_dir():
        return sorted(p.glob("*.onnx"))
    if _GLOB.search(item):
        return sorted(Path(f) for f in glob.glob(item) if f.lower().endswith(".onnx"))
    return [p] if p.is_file() else []


def _distinct_series(found: list[Checkpoint]) -> list[Checkpoint]:
    """Two different folders with the same name (a/run, b/run) are two runs: name such series by
    their whole folder path instead of the folder name."""
    folders: dict[str, set[str]] = {}
    for c in found:
        if Path(c.path).parent.name == c.series:
            folders.setdefault(c.series, set()).add(str(Path(c.path).parent))
    clash = {name for name, dirs in folders.items() if len(dirs) > 1}
    return [Checkpoint(c.path, c.step, str(Path(c.path).parent))
            if c.series in clash and Path(c.path).parent.name == c.series else c for c in found]


def discover(items: list[str]) -> list[Checkpoint]:
    """The checkpoints named by files, folders, globs and manifests, ordered by series (first
    appearance) and step.  Missing files, unknown steps and a step used twice in one series are
    errors."""
    found: list[Checkpoint] = []
    for item in items:
        if item.lower().endswith(".toml"):
            found += _from_manifest(Path(item))
            continue
        files = _files_of(item)
        if not files:
            raise LipcError(f"no ONNX checkpoint matches {item!r}")
        found += [Checkpoint(str(f.resolve()), _step_of(f), f.resolve().parent.name)
                  for f in files]
    unique = _distinct_series(list(dict.fromkeys(found)))
    seen: dict[tuple[str, int], str] = {}
    for c in unique:
        other = seen.setdefault((c.series, c.step), c.path)
        if other != c.path:
            raise LipcError(f"step {c.step} of series {c.series!r} is both {other} and {c.path}; "
                            "give the steps in a manifest")
    series = list(dict.fromkeys(c.series for c in unique))
    return sorted(unique, key=lambda c: (series.index(c.series), c.step))


# ---------------------------------------------------------------------- one row

def track_one(ckpt: Checkpoint, method: str, q: Tracking) -> dict:
    """One checkpoint and method (in a worker): lipc.api.estimate, as ``lipc estimate``."""

    row = dict(series=ckpt.series, step=ckpt.step, checkpoint=ckpt.path, method=method)
    try:
        net = api.load(ckpt.path, output_node=q.output_node)
        res = api.estimate(
            net, q.question, method=method, samples=q.samples, seed=q.seed,
            options=SolveOptions(time_limit=q.time_limit, solver=q.solver, seed=q.seed),
            compile_options=CompileOptions(bounds=q.bounds, formulation=q.formulation))
    except LipcError as e:                 # e.g. a missing optional extra: a row that says so
        return dict(row, guarantee="", value=None, status="error", lower=None, upper=None,
                    seconds=None, message=str(e))
    lower = upper = None
    status = res.details.get("status", "ok")
    if res.guarantee == "exact":
        lower, upper = res.details.get("lower"), res.details.get("upper")
    elif res.guarantee == "lower":
        lower = res.value
    elif res.guarantee == "upper":
        upper = res.value
    return dict(row, guarantee=res.guarantee, value=res.value, status=status, lower=lower,
                upper=upper, seconds=res.seconds, message="")


def _checkpoint_key(ckpt: Checkpoint, question_key: str) -> str:
    """The inputs every row of a checkpoint shares: the question's fingerprint (with the
    contents of the files it names), the checkpoint's place and its bytes; a row's key adds
    the method.  Each file is read and hashed once per run, not once per method."""
    return fingerprint(dict(question=question_key, series=ckpt.series, step=ckpt.step),
                       files=(ckpt.path,))


def _row_file(out: Path, ckpt: Checkpoint, method: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", ckpt.series)[-40:]
    tag = hashlib.sha256(ckpt.series.encode()).hexdigest()[:6]     # "a b" and "a_b" differ
    return out / "rows" / f"{safe}-{tag}__{ckpt.step}__{method}.json"


def check_question(ckpt: Checkpoint, q: Tracking, methods: list[str]) -> None:
    """Raise the LipcError of a mistake every checkpoint would share (the domain, the output,
    a norm, the output node, the solver), once and before any work, instead of an error row
    per checkpoint and method."""
    net = api.load(ckpt.path, output_node=q.output_node)
    api.check_question(net, q.question)
    if {"lipmip", "liplp"} & set(methods):
        choice = q.solver.strip().lower()
        race_names(choice) if choice.startswith("race") else get(choice)


def _shown(path: str) -> str:
    """A checkpoint path as the tables show it: relative to the working folder when inside it
    (results that travel with their checkpoints), else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


# ---------------------------------------------------------------------- the run

def track(checkpoints: list[Checkpoint], question: Tracking, methods: list[str],
          out_dir: str | Path, parallelism: Parallelism = Parallelism(),
          progress: TextIO | None = None) -> TrackReport:
    """Run every (checkpoint, method) job not finished by an earlier run into ``out_dir``."""
    methods = list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in ESTIMATORS]
    if unknown or not methods:
        raise LipcError(f"unknown method {', '.join(unknown) or '(none)'}; choose from "
                        f"{', '.join(ESTIMATORS)}")
    if not checkpoints:
        raise LipcError("no checkpoints to track")
    check_question(checkpoints[0], question, methods)
    out = Path(out_dir)
    # lipc.ownership: a folder holding files lipc did not write there is refused
    ledger = Ledger.open(out, ("rows",), "track results")
    report = TrackReport()
    done: dict[tuple, dict] = {}
    jobs = []
    question_key = fingerprint(question.to_dict())
    for c in checkpoints:
        ckpt_key = _checkpoint_key(c, question_key)
        for m in methods:
            key = fingerprint(dict(checkpoint=ckpt_key, method=m))
            row = _read_row(ledger, _row_file(out, c, m))
            if row is not None and row.get("key") == key and row.get("status") != "error":
                done[(c, m)] = row
                report.reused += 1
            else:
                jobs.append((f"{c.series}/{c.step}/{m}", (c, m, question, key)))
    bar = Progress(len(jobs), "track", progress)
    for _, row in run_jobs(_job, jobs, parallelism, bar):
        c = Checkpoint(row["checkpoint"], row["step"], row["series"])
        row_path = _row_file(out, c, row["method"])
        ledger.write(row_path, json.dumps(row, indent=1).encode())
        done[(c, row["method"])] = row
        report.computed += 1
    report.rows = [dict({k: done[(c, m)].get(k) for k in CSV_FIELDS}, checkpoint=_shown(c.path))
                   for c in checkpoints for m in methods]
    _write_tables(ledger, report.rows, question, methods)
    return report


def _read_row(ledger: Ledger, path: Path) -> dict | None:
    """A row an earlier run saved, if lipc wrote it and it has the shape lipc writes."""
    if not ledger.owns(path):
        return None
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(row, dict) and all(
        row.get(k) is None or isinstance(row.get(k), (str, int, float)) for k in CSV_FIELDS)
    return row if ok else None


def _job(ckpt: Checkpoint, method: str, q: Tracking, key: str) -> dict:
    return dict(track_one(ckpt, method, q), key=key)


def _write_tables(ledger: Ledger, rows: list[dict], q: Tracking, methods: list[str]) -> None:
    out = ledger.root
    ledger.write(out / "track.csv", csv_text(CSV_FIELDS, rows).encode())
    doc = dict(question=q.to_dict(), methods=methods, rows=rows)
    ledger.write(out / "track.json",
                 (json.dumps(doc, indent=1, default=float) + "\n").encode())


def read_rows(path: str | Path) -> list[dict]:
    """The rows of a track.csv or track.json (for plotting a finished run)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            return json.loads(path.read_text())["rows"]
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, ValueError, KeyError) as e:
        raise LipcError(f"cannot read track results {path}: {e}") from e
    for r in rows:
        r["step"] = int(r["step"])
        for k in ("value", "lower", "upper", "seconds"):
            r[k] = float(r[k]) if r.get(k) not in (None, "") else None
    return rows
