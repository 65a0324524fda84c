"""``lipc bench solve``: re-solve every instance file of a library with HiGHS or CBC, reading the
file itself (not lipc's model), and check the optimum against the library's .solu file, like a
solver test set (issue 7)."""
from __future__ import annotations

import gzip
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import LipcError
from .build import read_solu

TOLERANCE = 1e-6            # relative to the values' own magnitude: no absolute floor
SOLVERS = ("highs", "cbc")


@dataclass
class ResolveReport:
    library: str
    solver: str
    rows: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r["ok"] for r in self.rows)

    def to_dict(self) -> dict:
        return dict(asdict(self), ok=self.ok)


def _highs(path: Path, time_limit):
    import highspy as hs

    from ...solvers.highs import quiet_highs
    h = quiet_highs()                    # no banner on stdout (bench solve --json)
    for k, v in (("mip_rel_gap", 1e-9), ("mip_abs_gap", 1e-10), ("threads", 1),
                 ("mip_feasibility_tolerance", 1e-9), ("primal_feasibility_tolerance", 1e-9)):
        h.setOptionValue(k, v)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    if h.readModel(str(path)) != hs.HighsStatus.kOk:
        return "unreadable", None
    h.run()
    st = h.getModelStatus()
    if st == hs.HighsModelStatus.kOptimal:
        return "opt", h.getInfo().objective_function_value
    if st == hs.HighsModelStatus.kInfeasible:
        return "inf", None
    sol = h.getInfo().primal_solution_status
    return ("best", h.getInfo().objective_function_value) if sol == 2 else ("unkn", None)


def _cbc(path: Path, time_limit):
    import mip
    with tempfile.TemporaryDirectory() as tmp:       # python-mip reads plain .mps reliably
        plain = Path(tmp) / (path.name[:-3] if path.name.endswith(".gz") else path.name)
        try:
            with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") \
                    as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except (OSError, EOFError):          # a corrupt or cut-off .gz
            return "unreadable", None
        m = mip.Model(solver_name="CBC")
        m.verbose = 0
        m.read(str(plain))
    m.max_mip_gap, m.max_mip_gap_abs = 1e-9, 1e-10
    m.integer_tol, m.infeas_tol, m.threads = 1e-9, 1e-9, 1
    st = m.optimize(max_seconds=float(time_limit) if time_limit is not None else mip.INF)
    if st == mip.OptimizationStatus.OPTIMAL:
        return "opt", m.objective_value
    if st == mip.OptimizationStatus.INFEASIBLE:
        return "inf", None
    if st == mip.OptimizationStatus.FEASIBLE:
        return "best", m.objective_value
    return "unkn", None


def _agree(a: float, b: float) -> bool:
    """a and b agree to TOLERANCE relative to their own scale (an absolute floor would call
    1e-9 and 3e-9 equal: every value of a library built at a small scale would agree)."""
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b))


def resolve(lib_dir: str | Path, solver: str = "highs",
            time_limit: float | None = None) -> ResolveReport:
    """Re-solve each instance listed in the library's .solu file and compare (1e-6 relative)."""
    lib = Path(lib_dir)
    key = solver.strip().lower()
    if key not in SOLVERS:
        raise LipcError(f"unknown solver {solver!r} for bench solve; choose from "
                        f"{', '.join(SOLVERS)}")
    solus = sorted(lib.glob("*.solu"))
    if len(solus) != 1:
        raise LipcError(f"{lib} must hold exactly one .solu file (found {len(solus)})")
    table = read_solu(solus[0])
    run = _highs if key == "highs" else _cbc
    report = ResolveReport(solus[0].stem, key)
    for name, (kind, ref) in table.items():
        path = lib / "instances" / f"{name}.mps.gz"
        if not path.is_file():
            report.rows.append(dict(name=name, solu=kind, expected=ref, got=None,
                                    status="missing", seconds=0.0, ok=False))
            continue
        t0 = time.perf_counter()
        got_kind, got = run(path, time_limit)
        seconds = time.perf_counter() - t0
        if got_kind == "unreadable":
            ok = False
        elif kind == "opt":
            ok = got_kind == "opt" and _agree(got, ref)
        elif kind == "best":        # a minimisation: the true optimum is at most the best value
            ok = got_kind == "opt" and got <= ref + TOLERANCE * abs(ref)
            ok = ok or got_kind in ("best", "unkn")
        elif kind == "inf":
            ok = got_kind in ("inf", "unkn")
        else:
            ok = True
        report.rows.append(dict(name=name, solu=kind, expected=ref, got=got, status=got_kind,
                                seconds=seconds, ok=bool(ok)))
    return report
