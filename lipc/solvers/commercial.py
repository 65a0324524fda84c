"""Commercial back ends: Gurobi, CPLEX, Xpress, used only when their package *and* a licence work.

Each is driven through its own Python API (Gurobi also through python-mip's driver when only the
Gurobi library, not gurobipy, is installed).  None of these packages is a dependency of lipc;
without them ``--solver gurobi`` stops with a message naming the missing package, and with a
package but no licence, with the licence error the package reported.  ``auto`` considers them
only after a successful licence check (done once per process).

The packages from the package index come with a free licence that limits the model's size
(measured here by trying: gurobipy 13 takes <= 2000 columns and <= 2000 rows, CPLEX 22
Community Edition <= 1000 columns and <= 1000 rows, Xpress 9 community <= 5000 rows + columns).
Whether the limit applies is found once per process by building a model one column over it
(a full licence takes it).  :meth:`_Licensed.fits` compares the model *as the back end would
pass it* with the limit, so ``auto``, ``race`` and the retry ladder skip a back end that would
refuse the model, and an explicit ``--solver`` stops with one line naming the limit; a size
error the vendor raises anyway is classified as the same :class:`LicenceLimitError`.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import SolverError
from ..core.mip import FlatMIP
from ..util.capture import captured_stdout
from .base import (Attempt, Backend, Progress, SolveOptions, SolverOutcome, Status,
                   start_entries)


class LicenceLimitError(SolverError):
    """The back end's licence cannot take a model of this size."""


@dataclass(frozen=True)
class SizeLimit:
    """A size-limited licence: at most ``columns`` and ``rows``, or ``total`` rows + columns."""

    licence: str
    columns: int | None = None
    rows: int | None = None
    total: int | None = None

    def probe_columns(self) -> int:
        """Columns of the smallest row-free model this licence refuses: the probe's size."""
        return (self.total if self.total is not None else self.columns) + 1

    def excess(self, cols: int, rows: int) -> str | None:
        """Why a model with ``cols`` columns and ``rows`` rows does not fit, or None."""
        if ((self.columns is not None and cols > self.columns)
                or (self.rows is not None and rows > self.rows)
                or (self.total is not None and cols + rows > self.total)):
            return f"{self.describe()}; this MIP has {cols} columns and {rows} rows"
        return None

    def describe(self) -> str:
        most = (f"{self.total} rows + columns" if self.total is not None
                else f"{self.columns} columns and {self.rows} rows")
        return f"{self.licence} allows at most {most}"


def _probe_model(cols: int) -> FlatMIP:
    """A trivial LP with ``cols`` columns (max sum x, 0 <= x <= 1) to try a licence's limit."""
    z = np.zeros(0)
    return FlatMIP([f"x{j}" for j in range(cols)], np.zeros(cols), np.ones(cols),
                   np.zeros(cols, bool), np.ones(cols), [], np.zeros(1, np.int64),
                   np.zeros(0, np.int64), z, z, z, name="lipc_licence_probe")


def _finite(v, big: float = 1e19) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and abs(v) < big else None


class _Licensed(Backend):
    commercial = True
    _licence: tuple[bool, str] | None = None     # cached (ok, reason)
    free_limit: SizeLimit | None = None          # the package index licence's limit (subclasses)
    _limit: tuple[SizeLimit | None, str | None] | None = None  # cached: (limit in force,
    #                                                            probe failure) per process

    def _probe(self) -> None:
        """Raise if no licence (subclasses)."""

    def licence(self) -> tuple[bool, str]:
        if type(self)._licence is None:
            try:
                with captured_stdout(lambda line: None):
                    self._probe()
                type(self)._licence = (True, "")
            except Exception as exc:            # the vendor's own licence error
                type(self)._licence = (False, f"{type(exc).__name__}: {exc}")
        return type(self)._licence

    def usable(self) -> bool:
        return self.available() and self.licence()[0]

    def require(self) -> None:
        super().require()
        ok, why = self.licence()
        if not ok:
            raise SolverError(f"solver {self.name!r}: the package {self.module!r} is installed but "
                              f"no usable licence was found ({why})")

    def size_limit(self) -> SizeLimit | None:
        """The size limit of the licence in force, found once per process by solving a model
        one column over the free licence's limit: refused means limited, solved means not."""
        if type(self)._limit is None:
            limited, failure = None, None
            if self.free_limit is not None and self.usable():
                probe, opts = _probe_model(self.free_limit.probe_columns()), SolveOptions()
                try:
                    self._run(probe, opts, Attempt.of(opts), Progress(self.name, False))
                except Exception as exc:                 # noqa: BLE001 - classified below
                    if self._size_error(exc):
                        limited = self.free_limit
                    else:                                # cannot solve even a trivial LP
                        failure = f"its licence probe failed ({type(exc).__name__}: {exc})"
            type(self)._limit = (limited, failure)
        return type(self)._limit[0]

    def size_limited(self) -> bool:
        return self.size_limit() is not None

    def settings(self, opts: SolveOptions, att: Attempt) -> dict:
        lim = self.size_limit()
        return {**super().settings(opts, att),
                "licence": f"size-limited: {lim.describe()}" if lim else "unrestricted"}

    def model_size(self, flat: FlatMIP) -> tuple[int, int]:
        """(columns, rows) as this back end passes the model to the solver."""
        return flat.n_cols, flat.n_rows

    def fits(self, flat: FlatMIP) -> str | None:
        if not self.usable():
            return None
        lim = self.size_limit()
        failure = type(self)._limit[1]
        return failure or (None if lim is None else lim.excess(*self.model_size(flat)))

    def _size_error(self, exc: BaseException) -> bool:
        """Is ``exc`` the vendor's "model too large for this licence" error? (subclasses)"""
        return False

    def _solve(self, flat, opts, att, progress):
        try:
            return self._run(flat, opts, att, progress)
        except Exception as exc:
            if self._size_error(exc):
                cols, rows = self.model_size(flat)
                raise LicenceLimitError(
                    f"solver {self.name!r}: the licence refuses this model ({cols} columns, "
                    f"{rows} rows; {self.free_limit.describe()}): {exc}. Use --solver auto or "
                    "an open solver (highs, cbc, scip)") from exc
            raise

    def _run(self, flat, opts, att, progress) -> SolverOutcome:
        raise NotImplementedError


@contextlib.contextmanager
def _captured(lines: list[str]):
    """The solver's output into ``lines``: C-level stdout, and Python-level prints too (gurobipy
    and xpress log through ``sys.stdout``, which need not be file descriptor 1, e.g. under a
    test's capture): lipc's stdout stays clean for --json."""
    buf = io.StringIO()
    with captured_stdout(lines.append), contextlib.redirect_stdout(buf):
        yield
    lines.extend(buf.getvalue().splitlines())


def _ranged(flat: FlatMIP) -> int:
    """Number of two-sided rows with different finite sides."""
    return int(np.count_nonzero(np.isfinite(flat.row_lo) & np.isfinite(flat.row_hi)
                                & (flat.row_lo != flat.row_hi)))


def _start(opts, flat: FlatMIP) -> tuple[np.ndarray, np.ndarray] | None:
    """The known entries (column indices, values) of the MIP start the options carry
    (``SolveOptions.start``: NaN where a value is unknown, a partial start the solver
    completes), or None."""
    start = getattr(opts, "start", None)
    if start is None:
        return None
    start = np.asarray(start, dtype=np.float64)
    if start.shape != (flat.n_cols,):
        raise SolverError(f"MIP start has {start.size} values, the model {flat.n_cols} columns")
    idx, val = start_entries(start)
    return (idx, val) if idx.size else None


# parameters read back from each solver after setting them: the values it actually holds
_GUROBI_READ = ("Threads", "MIPGap", "MIPGapAbs", "FeasibilityTol", "IntFeasTol", "Seed",
                "Presolve", "TimeLimit")
_CPLEX_READ = ("threads", "mip.tolerances.mipgap", "mip.tolerances.absmipgap",
               "mip.tolerances.integrality", "simplex.tolerances.feasibility", "randomseed",
               "preprocessing.presolve", "timelimit")


def _xpress_problem():
    """A new Xpress problem, without the multi-line LicenseWarning the community licence emits
    in every process that loads it (the licence in force is in the result's settings)."""
    import xpress as xp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getattr(xp, "LicenseWarning", UserWarning))
        return xp.problem()


_XPRESS_STATUS = {"OPTIMAL": Status.OPTIMAL, "FEASIBLE": Status.TIME_LIMIT,
                  "INFEASIBLE": Status.INFEASIBLE, "UNBOUNDED": Status.UNBOUNDED,
                  "NOTFOUND": Status.NO_SOLUTION}      # xpress.enums.SolStatus names


def _cplex_param(params, dotted: str):
    for part in dotted.split("."):
        params = getattr(params, part)
    return params


def _rows(flat):
    """(indices, values, lo, hi) per row, as plain lists."""
    ptr, idx, val = flat.indptr, flat.indices, flat.data
    for r in range(flat.n_rows):
        a, b = int(ptr[r]), int(ptr[r + 1])
        yield idx[a:b].tolist(), val[a:b].tolist(), float(flat.row_lo[r]), float(flat.row_hi[r])


# ------------------------------------------------------------------------------------------------
# Gurobi


def _pymip_has_gurobi() -> bool:
    """python-mip's Gurobi driver, only looked for when GUROBI_HOME is set: its library search
    otherwise probes ~50 names with find_library (seconds)."""
    if "GUROBI_HOME" not in os.environ:
        return False
    try:
        import mip.gurobi
        return bool(mip.gurobi.has_gurobi)
    except Exception:
        return False


class Gurobi(_Licensed):
    name, label, module = "gurobi", "Gurobi (gurobipy)", "gurobipy"
    install = ("pip install gurobipy, plus a Gurobi licence (the pip wheel's own licence is "
               "size-limited); or GUROBI_HOME for python-mip's driver")
    progress_source = "callback"
    min_tol = 1e-9                       # FeasibilityTol and IntFeasTol accept >= 1e-9
    free_limit = SizeLimit("the size-limited Gurobi licence of the gurobipy package",
                           columns=2000, rows=2000)

    def available(self) -> bool:
        return super().available() or _pymip_has_gurobi()

    def model_size(self, flat: FlatMIP) -> tuple[int, int]:
        """addRange adds one slack column per two-sided row, and the licence counts it."""
        return flat.n_cols + _ranged(flat), flat.n_rows

    def _size_error(self, exc: BaseException) -> bool:
        return getattr(exc, "errno", None) == 10010        # GRB_ERROR_SIZE_LIMIT_EXCEEDED

    def _probe(self) -> None:
        if super().available():
            import gurobipy as gp
            env = gp.Env(empty=True)
            env.setParam("OutputFlag", 0)
            env.start()
            env.dispose()
        else:
            import mip
            mip.Model(solver_name=mip.GUROBI)

    def _run(self, flat, opts, att, progress):
        if not Backend.available(self):          # only the library: python-mip's driver
            from .cbc import build_model, solve_pymip
            m, xs = build_model(flat, solver_name="GRB")
            return solve_pymip(m, xs, opts, att, progress, parse=None)
        import gurobipy as gp
        from gurobipy import GRB

        lines: list[str] = []
        with _captured(lines):
            env = gp.Env(empty=True)
            env.start()
            m = gp.Model(flat.name, env=env)
            vt = np.where(flat.integer, GRB.INTEGER, GRB.CONTINUOUS)
            x = m.addVars(flat.n_cols, lb=flat.lb.tolist(), ub=flat.ub.tolist(),
                          obj=flat.obj.tolist(), vtype=vt.tolist())
            xs = [x[j] for j in range(flat.n_cols)]
            for idx, val, lo, hi in _rows(flat):
                expr = gp.LinExpr(val, [xs[j] for j in idx])
                if lo == hi:
                    m.addLConstr(expr, GRB.EQUAL, lo)
                elif math.isfinite(lo) and math.isfinite(hi):
                    m.addRange(expr, lo, hi)
                elif math.isfinite(lo):
                    m.addLConstr(expr, GRB.GREATER_EQUAL, lo)
                else:
                    m.addLConstr(expr, GRB.LESS_EQUAL, hi)
            m.ModelSense = GRB.MAXIMIZE
            m.ObjCon = float(flat.obj_const)
            p = m.Params
            p.Threads = max(1, int(opts.threads))
            p.MIPGap, p.MIPGapAbs = float(opts.gap), float(opts.gap_abs)
            p.FeasibilityTol = max(self.min_tol, att.feas_tol)
            p.IntFeasTol = max(self.min_tol, att.int_tol)
            p.Seed = int(opts.seed)
            if not att.presolve:
                p.Presolve = 0
            if att.time_limit is not None:
                p.TimeLimit = max(0.01, float(att.time_limit))
            if opts.node_limit is not None:
                p.NodeLimit = float(opts.node_limit)

            start = _start(opts, flat)
            if start is not None:
                m.setAttr("Start", [xs[i] for i in start[0]], start[1].tolist())
            native = {k: m.getParamInfo(k)[2] for k in _GUROBI_READ}

            def cb(model, where):
                if where == GRB.Callback.MIP:
                    progress(int(model.cbGet(GRB.Callback.MIP_NODCNT)),
                             _finite(model.cbGet(GRB.Callback.MIP_OBJBST), 1e99),
                             _finite(model.cbGet(GRB.Callback.MIP_OBJBND), 1e99))

            m.optimize(cb if progress.enabled else None)
            s = m.Status
            has_x = m.SolCount > 0
            x_val = np.array(m.getAttr("X", xs), dtype=np.float64) if has_x else None
            inc = _finite(m.ObjVal, 1e99) if has_x else None
            try:
                bound = _finite(m.ObjBound, 1e99)
            except (AttributeError, gp.GurobiError):
                bound = inc if s == GRB.OPTIMAL else None
            nodes = int(m.NodeCount) if flat.integer.any() else 0
            m.dispose()
            env.dispose()
        st = {GRB.OPTIMAL: Status.OPTIMAL, GRB.INFEASIBLE: Status.INFEASIBLE,
              GRB.UNBOUNDED: Status.UNBOUNDED, GRB.INF_OR_UNBD: Status.INF_OR_UNBD,
              GRB.INTERRUPTED: Status.INTERRUPTED}.get(s)
        if st is None:
            limits = (GRB.TIME_LIMIT, GRB.NODE_LIMIT, GRB.SOLUTION_LIMIT, GRB.ITERATION_LIMIT,
                      GRB.SUBOPTIMAL)
            st = ((Status.TIME_LIMIT if has_x else Status.NO_SOLUTION) if s in limits
                  else Status.ERROR)
        return SolverOutcome(st, inc, bound, x_val, 0.0, nodes, log=lines,
                             settings={"native": native})


# ------------------------------------------------------------------------------------------------
# CPLEX


class CPLEX(_Licensed):
    name, label, module = "cplex", "CPLEX (cplex)", "cplex"
    install = ("pip install cplex (the Community Edition is size-limited), or a full CPLEX "
               "installation's Python API")
    progress_source = "callback"
    min_tol = 1e-9                       # simplex feasibility tolerance accepts >= 1e-9
    free_limit = SizeLimit("the CPLEX Community Edition licence", columns=1000, rows=1000)

    def _size_error(self, exc: BaseException) -> bool:
        args = getattr(exc, "args", ())
        return len(args) > 2 and args[2] == 1016            # CPXERR_RESTRICTED_VERSION

    def _probe(self) -> None:
        import cplex
        cplex.Cplex().end()

    def _run(self, flat, opts, att, progress):
        import cplex
        from cplex.callbacks import MIPInfoCallback

        buf = io.StringIO()
        c = cplex.Cplex()
        try:
            for stream in (c.set_results_stream, c.set_log_stream, c.set_error_stream):
                stream(buf)
            c.set_warning_stream(buf)
            c.objective.set_sense(c.objective.sense.maximize)
            inf = cplex.infinity
            lb = [max(-inf, v) for v in flat.lb.tolist()]
            ub = [min(inf, v) for v in flat.ub.tolist()]
            c.variables.add(obj=flat.obj.tolist(), lb=lb, ub=ub,
                            types="".join("I" if i else "C" for i in flat.integer))
            exprs, senses, rhs, rng = [], [], [], []
            for idx, val, lo, hi in _rows(flat):
                exprs.append(cplex.SparsePair(ind=idx, val=val))
                if lo == hi:
                    senses.append("E"), rhs.append(lo), rng.append(0.0)
                elif math.isfinite(lo) and math.isfinite(hi):
                    senses.append("R"), rhs.append(lo), rng.append(hi - lo)
                elif math.isfinite(lo):
                    senses.append("G"), rhs.append(lo), rng.append(0.0)
                else:
                    senses.append("L"), rhs.append(hi), rng.append(0.0)
            c.linear_constraints.add(lin_expr=exprs, senses="".join(senses), rhs=rhs,
                                     range_values=rng)
            if flat.obj_const:
                c.objective.set_offset(float(flat.obj_const))
            P = c.parameters
            P.threads.set(max(1, int(opts.threads)))
            P.mip.tolerances.mipgap.set(float(opts.gap))
            P.mip.tolerances.absmipgap.set(float(opts.gap_abs))
            P.mip.tolerances.integrality.set(max(0.0, att.int_tol))
            P.simplex.tolerances.feasibility.set(max(self.min_tol, att.feas_tol))
            P.randomseed.set(int(opts.seed))
            if not att.presolve:
                P.preprocessing.presolve.set(0)
            if att.time_limit is not None:
                P.timelimit.set(max(0.01, float(att.time_limit)))
            if opts.node_limit is not None:
                P.mip.limits.nodes.set(int(opts.node_limit))
            if progress.enabled:
                class Info(MIPInfoCallback):
                    def __call__(self):
                        inc = self.get_incumbent_objective_value() if self.has_incumbent() else None
                        progress(int(self.get_num_nodes()), _finite(inc),
                                 _finite(self.get_best_objective_value()))
                c.register_callback(Info)
            start = _start(opts, flat)
            if start is not None:                # partial: CPLEX completes it
                c.MIP_starts.add([start[0].tolist(), start[1].tolist()],
                                 c.MIP_starts.effort_level.auto, "lipc")
            native = {k: _cplex_param(P, k).get() for k in _CPLEX_READ}
            c.solve()
            sol = c.solution
            code = sol.get_status()
            S = sol.status
            has_x = bool(sol.is_primal_feasible())
            x = np.array(sol.get_values(), dtype=np.float64) if has_x else None
            inc = _finite(sol.get_objective_value()) if has_x else None
            try:
                bound = _finite(sol.MIP.get_best_objective())
            except cplex.exceptions.CplexError:
                bound = None
            try:
                nodes = int(sol.progress.get_num_nodes_processed())
            except cplex.exceptions.CplexError:
                nodes = None
        finally:
            c.end()
        if code in (S.MIP_optimal, S.optimal_tolerance, S.optimal):
            st = Status.OPTIMAL
        elif code in (S.MIP_infeasible, S.infeasible):
            st = Status.INFEASIBLE
        elif code in (S.MIP_unbounded, S.unbounded):
            st = Status.UNBOUNDED
        elif code in (S.MIP_infeasible_or_unbounded, S.infeasible_or_unbounded):
            st = Status.INF_OR_UNBD
        elif code in (S.MIP_time_limit_feasible, S.MIP_time_limit_infeasible, S.abort_time_limit,
                      S.MIP_abort_feasible, S.MIP_abort_infeasible, S.abort_user,
                      S.node_limit_feasible, S.node_limit_infeasible):
            st = Status.TIME_LIMIT if has_x else Status.NO_SOLUTION
        else:
            st = Status.ERROR
        return SolverOutcome(st, inc, bound, x, 0.0, nodes, log=buf.getvalue().splitlines(),
                             settings={"native": native})


# ------------------------------------------------------------------------------------------------
# Xpress


class Xpress(_Licensed):
    name, label, module = "xpress", "FICO Xpress (xpress)", "xpress"
    install = "pip install xpress (the community licence is size-limited), or an Xpress licence"
    progress_source = "callback"
    min_tol = 1e-9
    free_limit = SizeLimit("the Xpress community licence", total=5000)

    def model_size(self, flat: FlatMIP) -> tuple[int, int]:
        """A two-sided row is passed as two rows (>= and <=)."""
        return flat.n_cols, flat.n_rows + _ranged(flat)

    def _size_error(self, exc: BaseException) -> bool:
        return "too many rows and columns" in str(exc)      # Xpress message ?120

    def _probe(self) -> None:
        _xpress_problem()

    def _run(self, flat, opts, att, progress):
        import xpress as xp

        lines: list[str] = []
        with _captured(lines):
            p = _xpress_problem()
            inf = getattr(xp, "infinity", 1e20)
            kind = getattr(xp, "integer"), getattr(xp, "continuous")
            xs = [p.addVariable(lb=max(-inf, lo), ub=min(inf, hi),
                                vartype=kind[0] if i else kind[1])
                  for lo, hi, i in zip(flat.lb.tolist(), flat.ub.tolist(), flat.integer)]
            cons = []
            for idx, val, lo, hi in _rows(flat):
                body = xp.Sum(v * xs[j] for j, v in zip(idx, val))
                if lo == hi:
                    cons.append(xp.constraint(body == lo))
                else:
                    if math.isfinite(lo):
                        cons.append(xp.constraint(body >= lo))
                    if math.isfinite(hi):
                        cons.append(xp.constraint(body <= hi))
            p.addConstraint(cons)
            nz = np.flatnonzero(flat.obj)
            obj = xp.Sum(float(flat.obj[j]) * xs[j] for j in nz) + float(flat.obj_const)
            p.setObjective(obj, sense=getattr(xp, "maximize", -1))
            ctl = {"threads": max(1, int(opts.threads)), "miprelstop": float(opts.gap),
                   "mipabsstop": float(opts.gap_abs), "feastol": max(self.min_tol, att.feas_tol),
                   "miptol": max(self.min_tol, att.int_tol), "randomseed": int(opts.seed),
                   # cutoffs prune nodes within 1e-5 absolute / 1e-4 relative of the incumbent
                   # by default: a gap larger than the one asked for
                   "mipaddcutoff": -float(opts.gap_abs), "miprelcutoff": float(opts.gap)}
            if not att.presolve:
                ctl["presolve"] = 0
            if att.time_limit is not None:
                ctl["maxtime"] = -max(1, int(math.ceil(att.time_limit)))   # < 0: hard limit
            if opts.node_limit is not None:
                ctl["maxnode"] = int(opts.node_limit)
            p.setControl(ctl)
            native = p.getControl(list(ctl))
            start = _start(opts, flat)
            if start is not None:
                p.addmipsol(start[1].tolist(), [xs[i] for i in start[0]], "lipc")
            if progress.enabled:
                def on_log(prob, *_) -> None:        # at each MIP log line
                    a = prob.attributes
                    progress(int(a.nodes), _finite(a.mipobjval) if a.mipsols else None,
                             _finite(a.bestbound))

                if hasattr(p, "addMiplogCallback"):     # Xpress >= 9.8
                    p.addMiplogCallback(on_log)
                else:                                   # older: (prob, data) -> 0
                    p.addcbmiplog(lambda prob, data: on_log(prob) or 0, None, 0)
            solve_status, sol_status = p.optimize()     # Xpress >= 9.2: LPs and MIPs alike
            has_x = sol_status in (xp.enums.SolStatus.OPTIMAL, xp.enums.SolStatus.FEASIBLE)
            x = np.array(p.getSolution(xs), dtype=np.float64) if has_x else None
            mip = bool(flat.integer.any())
            a = p.attributes
            inc = _finite(a.mipobjval if mip else a.lpobjval) if has_x else None
            bound = _finite(p.attributes.bestbound) if mip else None
            nodes = int(p.attributes.nodes) if mip else 0
        st = _XPRESS_STATUS.get(sol_status.name, Status.ERROR)
        if st == Status.NO_SOLUTION and solve_status != xp.enums.SolveStatus.STOPPED:
            st = Status.ERROR
        elif st == Status.OPTIMAL and solve_status != xp.enums.SolveStatus.COMPLETED:
            st = Status.TIME_LIMIT
        return SolverOutcome(st, inc, bound, x, 0.0, nodes, log=lines, settings={"native": native})
