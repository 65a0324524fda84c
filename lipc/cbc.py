"""Compatibility module: the solver code lives in :mod:`lipc.solvers` (CBC in lipc/solvers/cbc.py).

Kept so that ``from lipc.cbc import SolveOptions, solve_cbc, captured_stdout, parse_progress``
goes on working.
"""
from .solvers.base import SolveOptions, SolverOutcome, captured_stdout
from .solvers.cbc import STATUS as _STATUS
from .solvers.cbc import build_model, nodes_from_log, parse_progress, solve_cbc

__all__ = ["SolveOptions", "SolverOutcome", "captured_stdout", "build_model", "nodes_from_log",
           "parse_progress", "solve_cbc"]
