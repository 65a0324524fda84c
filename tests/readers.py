"""Reading an emitted file back with independent solvers (test-only dependencies)."""
from __future__ import annotations

import contextlib
import os

import pytest


@contextlib.contextmanager
def quiet_fd1():
    """Silence C-level stdout of solver libraries."""
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def highs_max(path) -> float:
    """Optimum of the original (maximised) model: the file minimises its negation."""
    highspy = pytest.importorskip("highspy")
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 1e-9)
    with quiet_fd1():
        assert h.readModel(str(path)) != highspy.HighsStatus.kError
        h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return -h.getInfo().objective_function_value


def scip_max(path) -> float:
    pyscipopt = pytest.importorskip("pyscipopt")
    m = pyscipopt.Model()
    m.hideOutput()
    m.setParam("limits/gap", 1e-9)
    with quiet_fd1():
        m.readProblem(str(path))
        m.optimize()
    assert m.getStatus() == "optimal"
    return -m.getObjVal()


READERS = {"highs": highs_max, "scip": scip_max}
