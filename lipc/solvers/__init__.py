"""MIP solver back ends behind one interface.

    from lipc.solvers import SolveOptions, solve_mip
    out = solve_mip(flat, SolveOptions(solver="highs", time_limit=60))
    out.status, out.incumbent, out.bound, out.gap, out.x

The registry below is in preference order for ``solver="auto"`` (and for the fallback after a
numerical failure, and for picking the two racers): a commercial solver when its package and a
licence work (Gurobi first: the fastest in ../shared/notes/anchor-measurements.md), then HiGHS,
CBC, SCIP, as measured on this project's models (benchmarks/solvers.py; HiGHS took 0.2-0.8x
CBC's time, SCIP 1.5-6x).  HiGHS (highspy) and CBC (python-mip) are dependencies of lipc; SCIP is an extra
(``pip install 'lipc[scip]'``) and the commercial ones are vendor packages.
"""
from .base import (DEFAULT_FEAS_TOL, DEFAULT_INT_TOL, REGISTRY, Attempt, Backend, Progress,
                   SolveOptions, SolverOutcome, Status, auto_order, get,
                   installed, names, register)
from .cbc import CBC, nodes_from_log, parse_progress
from .commercial import CPLEX, Gurobi, Xpress
from .highs import HiGHS
from .run import cross_check, race, solve_mip
from .scip import SCIP

for _backend in (Gurobi(), CPLEX(), Xpress(), HiGHS(), CBC(), SCIP()):
    register(_backend)

__all__ = ["SolveOptions", "SolverOutcome", "Status", "Backend", "Attempt", "Progress",
           "REGISTRY", "register", "names", "installed", "auto_order", "get", "solve_mip",
           "cross_check", "race", "parse_progress",
           "nodes_from_log", "DEFAULT_FEAS_TOL", "DEFAULT_INT_TOL"]
