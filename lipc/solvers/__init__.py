"""MIP solver back ends behind one interface.

    from lipc.solvers import SolveOptions, solve_mip
    out = solve_mip(flat, SolveOptions(solver="highs", time_limit=60))
    out.status, out.incumbent, out.bound, out.gap, out.x

The registry below is in preference order for ``solver="auto"``: a commercial solver when its
package and a licence work, then HiGHS, SCIP, CBC (measured on this project's models: see
benchmarks/README.md).  Only CBC (python-mip) is a dependency of lipc; the others are extras
(``pip install 'lipc[highs]'``, ``'lipc[scip]'``) or vendor packages.
"""
from .base import (DEFAULT_FEAS_TOL, DEFAULT_INT_TOL, REGISTRY, Attempt, Backend, Progress,
                   SolveOptions, SolverOutcome, Status, auto_order, captured_stdout, get,
                   installed, names, register)
from .cbc import CBC, nodes_from_log, parse_progress, solve_cbc
from .commercial import CPLEX, Gurobi, Xpress
from .highs import HiGHS
from .run import cross_check, race, solve_mip
from .scip import SCIP

for _backend in (Gurobi(), CPLEX(), Xpress(), HiGHS(), SCIP(), CBC()):
    register(_backend)

__all__ = ["SolveOptions", "SolverOutcome", "Status", "Backend", "Attempt", "Progress",
           "REGISTRY", "register", "names", "installed", "auto_order", "get", "solve_mip",
           "cross_check", "race", "solve_cbc", "captured_stdout", "parse_progress",
           "nodes_from_log", "DEFAULT_FEAS_TOL", "DEFAULT_INT_TOL"]
