"""Commercial back ends: Gurobi, CPLEX, Xpress, used only when their package *and* a licence work.

Each is driven through its own Python API (Gurobi also through python-mip's driver when only the
Gurobi library, not gurobipy, is installed).  None of these packages is a dependency of lipc;
without them ``--solver gurobi`` stops with a message naming the missing package, and with a
package but no licence, with the licence error the package reported.  ``auto`` considers them
only after a successful licence check (done once per process).
"""
from __future__ import annotations

import io
import math
import os

import numpy as np

from ..errors import SolverError
from .base import Backend, SolverOutcome, Status
from ..util.capture import captured_stdout


def _finite(v, big: float = 1e19) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and abs(v) < big else None


class _Licensed(Backend):
    commercial = True
    _licence: tuple[bool, str] | None = None     # cached (ok, reason)

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

    def available(self) -> bool:
        return super().available() or _pymip_has_gurobi()

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

    def _solve(self, flat, opts, att, progress):
        if not Backend.available(self):          # only the library: python-mip's driver
            from .cbc import build_model, solve_pymip
            m, xs = build_model(flat, solver_name="GRB")
            return solve_pymip(m, xs, opts, att, progress, parse=None)
        import gurobipy as gp
        from gurobipy import GRB

        lines: list[str] = []
        with captured_stdout(lines.append):
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
        return SolverOutcome(st, inc, bound, x_val, 0.0, nodes, log=lines)


# ------------------------------------------------------------------------------------------------
# CPLEX


class CPLEX(_Licensed):
    name, label, module = "cplex", "CPLEX (cplex)", "cplex"
    install = ("pip install cplex (the Community Edition is size-limited), or a full CPLEX "
               "installation's Python API")
    progress_source = "callback"
    min_tol = 1e-9                       # simplex feasibility tolerance accepts >= 1e-9

    def _probe(self) -> None:
        import cplex
        cplex.Cplex().end()

    def _solve(self, flat, opts, att, progress):
        import cplex
        from cplex.callbacks import MIPInfoCallback

        buf = io.StringIO()
        c = cplex.Cplex()
        try:
            for stream in (c.set_results_stream, c.set_log_stream):
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
            if progress.enabled:
                class Info(MIPInfoCallback):
                    def __call__(self):
                        inc = self.get_incumbent_objective_value() if self.has_incumbent() else None
                        progress(int(self.get_num_nodes()), _finite(inc),
                                 _finite(self.get_best_objective_value()))
                c.register_callback(Info)
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
                      S.MIP_abort_feasible, S.MIP_abort_infeasible, S.abort_user):
            st = Status.TIME_LIMIT if has_x else Status.NO_SOLUTION
        else:
            st = Status.ERROR
        return SolverOutcome(st, inc, bound, x, 0.0, nodes, log=buf.getvalue().splitlines())


# ------------------------------------------------------------------------------------------------
# Xpress


class Xpress(_Licensed):
    name, label, module = "xpress", "FICO Xpress (xpress)", "xpress"
    install = "pip install xpress (the community licence is size-limited), or an Xpress licence"
    progress_source = "log"
    min_tol = 1e-9

    def _probe(self) -> None:
        import xpress as xp
        xp.problem()

    def _solve(self, flat, opts, att, progress):
        import xpress as xp

        lines: list[str] = []
        with captured_stdout(lines.append):
            p = xp.problem()
            inf = getattr(xp, "infinity", 1e20)
            kind = getattr(xp, "integer"), getattr(xp, "continuous")
            xs = [xp.var(lb=max(-inf, lo), ub=min(inf, hi), vartype=kind[0] if i else kind[1])
                  for lo, hi, i in zip(flat.lb.tolist(), flat.ub.tolist(), flat.integer)]
            p.addVariable(xs)
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
                   "miptol": max(self.min_tol, att.int_tol), "randomseed": int(opts.seed)}
            if not att.presolve:
                ctl["presolve"] = 0
            if att.time_limit is not None:
                ctl["maxtime"] = -max(1, int(math.ceil(att.time_limit)))   # < 0: hard limit
            p.setControl(ctl)
            (p.optimize if hasattr(p, "optimize") else p.solve)()
            ms = p.getAttrib("mipstatus")
            has_x = ms in (getattr(xp, "mip_solution", 4), getattr(xp, "mip_optimal", 6))
            x = np.array(p.getSolution(xs), dtype=np.float64) if has_x else None
            inc = _finite(p.getAttrib("mipobjval")) if has_x else None
            bound = _finite(p.getAttrib("bestbound"))
            nodes = int(p.getAttrib("nodes"))
        if ms == getattr(xp, "mip_optimal", 6):
            st = Status.OPTIMAL
        elif ms == getattr(xp, "mip_infeas", 5):
            st = Status.INFEASIBLE
        elif ms == getattr(xp, "mip_unbounded", 7):
            st = Status.UNBOUNDED
        elif has_x:
            st = Status.TIME_LIMIT
        else:
            st = Status.NO_SOLUTION if ms in (getattr(xp, "mip_nosolfound", 3),) else Status.ERROR
        return SolverOutcome(st, inc, bound, x, 0.0, nodes, log=lines)
