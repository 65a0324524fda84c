"""HiGHS through highspy: the flat MIP's CSR arrays are passed in one ``passModel`` call.

Progress comes from HiGHS's MIP interrupt callback (incumbent, dual bound and node count, called
throughout branch and bound); the log is captured from C-level stdout like CBC's.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .base import Backend, SolverOutcome, Status, start_entries
from ..util.capture import captured_stdout


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) and abs(v) < 1e30 else None


def _status(hs, model_status, has_x: bool) -> str:
    S = hs.HighsModelStatus
    if model_status == S.kOptimal:
        return Status.OPTIMAL
    if model_status in (S.kTimeLimit, S.kIterationLimit, S.kSolutionLimit, S.kInterrupt,
                        S.kObjectiveBound, S.kObjectiveTarget, S.kMemoryLimit):
        return Status.TIME_LIMIT if has_x else Status.NO_SOLUTION
    if model_status == S.kInfeasible:
        return Status.INFEASIBLE
    if model_status == S.kUnbounded:
        return Status.UNBOUNDED
    if model_status == S.kUnboundedOrInfeasible:
        return Status.INF_OR_UNBD
    return Status.ERROR


def quiet_highs():
    """A new ``highspy.Highs`` with its output off; the licence banner HiGHS prints on C-level
    stdout when the first instance is created is swallowed, so ``--json`` output stays clean."""
    import highspy as hs

    with captured_stdout(lambda line: None):
        h = hs.Highs()
        h.setOptionValue("output_flag", False)
    return h


def build_highs(flat):
    """A ``highspy.Highs`` holding ``flat`` (maximisation), built from the arrays in bulk."""
    import highspy as hs

    h = quiet_highs()
    lp = hs.HighsLp()
    lp.model_name_ = flat.name
    lp.num_col_, lp.num_row_ = flat.n_cols, flat.n_rows
    lp.col_cost_ = np.asarray(flat.obj, np.float64)
    lp.col_lower_ = np.asarray(flat.lb, np.float64)
    lp.col_upper_ = np.asarray(flat.ub, np.float64)
    lp.row_lower_ = np.asarray(flat.row_lo, np.float64)
    lp.row_upper_ = np.asarray(flat.row_hi, np.float64)
    lp.offset_ = float(flat.obj_const)
    lp.sense_ = hs.ObjSense.kMaximize
    a = lp.a_matrix_
    a.format_ = hs.MatrixFormat.kRowwise
    a.num_col_, a.num_row_ = flat.n_cols, flat.n_rows
    a.start_ = np.asarray(flat.indptr, np.int32)
    a.index_ = np.asarray(flat.indices, np.int32)
    a.value_ = np.asarray(flat.data, np.float64)
    lp.a_matrix_ = a
    kinds = (hs.HighsVarType.kContinuous, hs.HighsVarType.kInteger)
    lp.integrality_ = [kinds[int(i)] for i in flat.integer]
    st = h.passModel(lp)
    if st == hs.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the model (passModel)")
    return h


# HiGHS 1.16's MIP presolve does not look at the time limit: on a 784-256-256-10 query (523k
# nonzeros) it ran 33 s under a 10 s limit (and lipc solve --time-limit 10 took 52 s); with
# presolve off the limit held (10.8 s) and the root LP's bound came back.  A timed solve of a
# MIP this large runs without presolve.
PRESOLVE_UNTIMED_NNZ = 250_000

HEURISTICS_OFF = {"mip_heuristic_effort": 0.0, "mip_heuristic_run_rins": False,
                  "mip_heuristic_run_rens": False, "mip_heuristic_run_feasibility_jump": False,
                  "mip_heuristic_run_root_reduced_cost": False}


class HiGHS(Backend):
    name, label, module = "highs", "HiGHS (highspy)", "highspy"
    install = "pip install highspy (a dependency of lipc)"
    int_tol = True
    progress_source = "callback"

    def adjusted(self, flat, att):
        if att.time_limit is not None and flat.nnz > PRESOLVE_UNTIMED_NNZ:
            return replace(att, presolve=False)
        return att

    def _solve(self, flat, opts, att, progress):
        import highspy as hs

        lines: list[str] = []
        with captured_stdout(lines.append):      # the banner is printed on construction
            h = build_highs(flat)
            set_ = h.setOptionValue
            set_("output_flag", True)
            set_("log_to_console", True)
            set_("threads", max(1, int(opts.threads)))
            set_("mip_rel_gap", float(opts.gap))
            set_("mip_abs_gap", float(opts.gap_abs))
            set_("primal_feasibility_tolerance", max(self.min_tol, att.feas_tol))
            set_("mip_feasibility_tolerance", max(self.min_tol, att.int_tol))
            set_("random_seed", int(opts.seed))
            set_("presolve", "on" if att.presolve else "off")
            if att.time_limit is not None:
                set_("time_limit", max(0.01, float(att.time_limit)))
            if opts.node_limit is not None:
                set_("mip_max_nodes", int(opts.node_limit))
            if not opts.heuristics:
                for name, value in HEURISTICS_OFF.items():
                    set_(name, value)

            def on_interrupt(e):
                d = e.data_out
                progress(int(d.mip_node_count), _finite(d.mip_primal_bound),
                         _finite(d.mip_dual_bound))

            if progress.enabled:
                h.cbMipInterrupt.subscribe(on_interrupt)
            idx, val = start_entries(opts.start)
            # HiGHS 1.16 with presolve on and a MIP start was measured claiming a wrong
            # optimum (examples/cnn_bn_maxpool_1x8x8.onnx, l1: 0.02981, the start's own value,
            # against 0.03048 from CBC, SCIP and HiGHS without the start or without presolve):
            # the start is given only with presolve off
            if idx.size and not att.presolve:
                h.setSolution(int(idx.size), idx.astype(np.int32), val)
            h.run()
        ms = h.getModelStatus()
        info = h.getInfo()
        sol = h.getSolution()
        has_x = (info.primal_solution_status == hs.SolutionStatus.kSolutionStatusFeasible
                 and sol.value_valid)
        x = np.array(sol.col_value, dtype=np.float64) if has_x else None
        st = _status(hs, ms, has_x)
        inc = _finite(info.objective_function_value) if has_x else None
        bound = _finite(info.mip_dual_bound) if flat.integer.any() else (
            inc if st == Status.OPTIMAL else None)          # an LP has no MIP dual bound
        nodes = int(info.mip_node_count) if info.mip_node_count >= 0 else None
        return SolverOutcome(st, inc, bound, x, 0.0, nodes, log=lines)
