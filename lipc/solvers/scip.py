"""SCIP through PySCIPOpt: one variable per column, one linear constraint per row.

Progress comes from an event handler (new incumbent, node solved); the log is captured from
C-level stdout.  SCIP has a single feasibility tolerance (numerics/feastol), which it also uses
for integrality, and solves on one thread.
"""
from __future__ import annotations

import math

import numpy as np

from .base import Backend, SolverOutcome, Status, start_entries
from ..util.capture import captured_stdout

SCIP_INF = 1e20

STATUS = {
    "optimal": Status.OPTIMAL,
    "gaplimit": Status.OPTIMAL,          # stopped at limits/gap: optimal within the gap
    "timelimit": Status.TIME_LIMIT,
    "nodelimit": Status.TIME_LIMIT,
    "totalnodelimit": Status.TIME_LIMIT,
    "stallnodelimit": Status.TIME_LIMIT,
    "memlimit": Status.TIME_LIMIT,
    "sollimit": Status.TIME_LIMIT,
    "bestsollimit": Status.TIME_LIMIT,
    "restartlimit": Status.TIME_LIMIT,
    "userinterrupt": Status.INTERRUPTED,
    "terminate": Status.INTERRUPTED,
    "infeasible": Status.INFEASIBLE,
    "unbounded": Status.UNBOUNDED,
    "inforunbd": Status.INF_OR_UNBD,
}


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) and abs(v) < SCIP_INF / 10 else None


def _b(v: float):
    return None if not math.isfinite(v) else float(v)


def build_scip(flat):
    """A ``pyscipopt.Model`` holding ``flat`` (maximisation) and its variables."""
    import pyscipopt as ps
    from pyscipopt.scip import ExprCons

    m = ps.Model(flat.name)
    xs = [m.addVar(name=n, lb=_b(lo), ub=_b(hi), vtype="I" if integ else "C")
          for n, lo, hi, integ in zip(flat.col_names, flat.lb, flat.ub, flat.integer)]
    ptr, idx, data = flat.indptr, flat.indices.tolist(), flat.data.tolist()
    for r in range(flat.n_rows):
        a, b = int(ptr[r]), int(ptr[r + 1])
        expr = ps.quicksum(data[k] * xs[idx[k]] for k in range(a, b))
        lo, hi = _b(flat.row_lo[r]), _b(flat.row_hi[r])
        m.addCons(ExprCons(expr, lhs=lo, rhs=hi), name=flat.row_names[r])
    nz = np.flatnonzero(flat.obj)
    m.setObjective(ps.quicksum(float(flat.obj[j]) * xs[j] for j in nz), "maximize")
    if flat.obj_const:
        m.addObjoffset(float(flat.obj_const))
    return m, xs


def _event_handler(progress):
    import pyscipopt as ps

    E = ps.SCIP_EVENTTYPE
    EVENTS = (E.BESTSOLFOUND, E.NODESOLVED, E.LPSOLVED)   # LPSOLVED: updates during the root

    class Watch(ps.Eventhdlr):
        def eventinit(self):
            for ev in EVENTS:
                self.model.catchEvent(ev, self)

        def eventexit(self):
            for ev in EVENTS:
                self.model.dropEvent(ev, self)

        def eventexec(self, event):
            m = self.model
            inc = _finite(m.getPrimalbound()) if m.getNSols() else None
            progress(int(m.getNNodes()), inc, _finite(m.getDualbound()))
            return {}

    return Watch()


class SCIP(Backend):
    name, label, module = "scip", "SCIP (PySCIPOpt)", "pyscipopt"
    install = "pip install pyscipopt, or pip install 'lipc[scip]'"
    threads = False
    int_tol = False            # SCIP's integrality tolerance is numerics/feastol
    progress_source = "callback"

    def _solve(self, flat, opts, att, progress):
        lines: list[str] = []
        with captured_stdout(lines.append, fds=(1, 2)):     # SoPlex warns on stderr
            m, xs = build_scip(flat)
            m.setParam("display/verblevel", 4)
            m.setParam("limits/gap", float(opts.gap))
            m.setParam("limits/absgap", float(opts.gap_abs))
            m.setParam("numerics/feastol", max(self.min_tol, min(att.feas_tol, att.int_tol)))
            m.setParam("randomization/randomseedshift", int(opts.seed))
            if att.time_limit is not None:
                m.setParam("limits/time", max(0.01, float(att.time_limit)))
            if opts.node_limit is not None:
                m.setParam("limits/nodes", int(opts.node_limit))
            if not att.presolve:
                import pyscipopt as ps
                m.setPresolve(ps.SCIP_PARAMSETTING.OFF)
            idx, val = start_entries(opts.start)
            if idx.size:
                sol = m.createPartialSol()
                for j, v in zip(idx, val):
                    m.setSolVal(sol, xs[j], float(v))
                m.addSol(sol)
            if progress.enabled:
                m.includeEventhdlr(_event_handler(progress), "lipc_progress",
                                   "lipc progress line")
            m.optimize()
            st = STATUS.get(m.getStatus(), Status.ERROR)
            sol = m.getBestSol() if m.getNSols() > 0 else None
            x = (np.array([m.getSolVal(sol, v) for v in xs], dtype=np.float64)
                 if sol is not None else None)
            inc = _finite(m.getSolObjVal(sol)) if sol is not None else None
            bound = _finite(m.getDualbound())
            nodes = int(m.getNTotalNodes())
        if st == Status.TIME_LIMIT and x is None:
            st = Status.NO_SOLUTION
        return SolverOutcome(st, inc, bound, x, 0.0, nodes, log=lines)
