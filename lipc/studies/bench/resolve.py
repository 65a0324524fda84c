"""``lipc bench solve``: re-solve every instance file of a library with any back end of the solver
registry and check the optimum against the library's .solu file, like a solver test set (issue 7).

HiGHS, CBC and SCIP read the file themselves (``FILE_READERS``: the file format is tested too, not
only the model); every other back end (the commercial ones) gets the file as read by lipc's
independent exact-check reader (lipc.studies.bench.exact_check), turned into its MIP arrays.  A
back end whose package is missing is a LipcError naming what to install."""
from __future__ import annotations

import gzip
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...core.mip import FlatMIP
from ...errors import LipcError
from ...solvers import REGISTRY, SolveOptions, Status
from .build import read_solu
from .exact_check import read_mps

TOLERANCE = 1e-6            # relative to the values' own magnitude: no absolute floor
GAP, GAP_ABS, TOL = 1e-9, 1e-10, 1e-9     # every back end is run this tightly, single-threaded


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
    for k, v in (("mip_rel_gap", GAP), ("mip_abs_gap", GAP_ABS), ("threads", 1),
                 ("mip_feasibility_tolerance", TOL), ("primal_feasibility_tolerance", TOL)):
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
    m.max_mip_gap, m.max_mip_gap_abs = GAP, GAP_ABS
    m.integer_tol, m.infeas_tol, m.threads = TOL, TOL, 1
    st = m.optimize(max_seconds=float(time_limit) if time_limit is not None else mip.INF)
    if st == mip.OptimizationStatus.OPTIMAL:
        return "opt", m.objective_value
    if st == mip.OptimizationStatus.INFEASIBLE:
        return "inf", None
    if st == mip.OptimizationStatus.FEASIBLE:
        return "best", m.objective_value
    return "unkn", None


def _scip(path: Path, time_limit):
    import pyscipopt as ps

    from ...util.capture import captured_stdout
    m = ps.Model()
    m.hideOutput()
    try:
        with captured_stdout(lambda line: None, fds=(1, 2)):     # SCIP reports read errors there
            m.readProblem(str(path))
    except Exception:          # pyscipopt raises a bare Exception (or OSError) on a bad file
        return "unreadable", None
    for k, v in (("limits/gap", GAP), ("limits/absgap", GAP_ABS), ("numerics/feastol", TOL)):
        m.setParam(k, v)
    if time_limit is not None:
        m.setParam("limits/time", float(time_limit))
    m.optimize()
    st = m.getStatus()
    if st == "optimal":
        return "opt", m.getObjVal()
    if st == "infeasible":
        return "inf", None
    return ("best", m.getObjVal()) if m.getNSols() > 0 else ("unkn", None)


def flat_of_file(path: Path) -> FlatMIP:
    """The file's MIP (read by lipc's exact-check reader) as a maximisation FlatMIP: the
    negated objective of the file's minimisation, so a back end's value is minus the file's."""
    f = read_mps(path)
    if f.sense != "min":
        raise LipcError(f"{path}: lipc's libraries minimise; this file says {f.sense}")
    sides = [f.sides(i) for i in range(f.n_rows)]
    lo = np.array([-np.inf if a is None else float(a) for a, _ in sides])
    hi = np.array([np.inf if b is None else float(b) for _, b in sides])
    counts = [len(r) for r in f.row_coefs]
    obj = np.zeros(f.n_cols)
    obj[list(f.obj)] = [-c for c in f.obj.values()]
    return FlatMIP(list(f.col_names), np.array(f.lb, float), np.array(f.ub, float),
                   np.array(f.integer, bool), obj, list(f.row_names),
                   np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                   np.array([j for r in f.row_coefs for j in r], np.int64),
                   np.array([a for r in f.row_coefs for a in r.values()], float),
                   lo, hi, -f.obj_const, f.name or path.name)


# Status of a registry back end -> the .solu kind of its answer (a limit with a solution: best)
_KINDS = {Status.OPTIMAL: "opt", Status.INFEASIBLE: "inf", Status.TIME_LIMIT: "best",
          Status.NODE_LIMIT: "best"}


def _registry(name: str):
    """A solve through the registry back end ``name`` on the file's arrays (flat_of_file)."""
    def run(path: Path, time_limit):
        try:
            flat = flat_of_file(path)
        except LipcError:
            return "unreadable", None
        out = REGISTRY[name].solve(flat, SolveOptions(
            time_limit=time_limit, gap=GAP, gap_abs=GAP_ABS, feas_tol=TOL, int_tol=TOL,
            threads=1, solver=name))
        kind = _KINDS.get(out.status, "unkn")
        if kind in ("opt", "best") and out.incumbent is not None:
            return kind, -out.incumbent
        return ("inf" if kind == "inf" else "unkn"), None
    return run


# back ends that read the instance files themselves; any other registry name uses _registry
FILE_READERS = {"highs": _highs, "cbc": _cbc, "scip": _scip}


def runner(solver: str):
    """The re-solve function of ``solver`` (a registry name), after checking its package is
    there: an unknown name or a missing package is a LipcError, never an ImportError."""
    key = solver.strip().lower()
    if key not in REGISTRY:
        raise LipcError(f"unknown solver {solver!r} for bench solve; choose from "
                        f"{', '.join(REGISTRY)}")
    REGISTRY[key].require()
    return FILE_READERS.get(key) or _registry(key)


def _agree(a: float, b: float) -> bool:
    """a and b agree to TOLERANCE relative to their own scale (an absolute floor would call
    1e-9 and 3e-9 equal: every value of a library built at a small scale would agree)."""
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b))


def resolve(lib_dir: str | Path, solver: str = "highs",
            time_limit: float | None = None) -> ResolveReport:
    """Re-solve each instance listed in the library's .solu file and compare (1e-6 relative)."""
    lib = Path(lib_dir)
    run = runner(solver)
    solus = sorted(lib.glob("*.solu"))
    if len(solus) != 1:
        raise LipcError(f"{lib} must hold exactly one .solu file (found {len(solus)})")
    table = read_solu(solus[0])
    report = ResolveReport(solus[0].stem, solver.strip().lower())
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
