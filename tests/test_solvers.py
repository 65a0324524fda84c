"""Solver back ends behind one interface: conformance on tiny MIPs, the same Lipschitz values
from every open solver, retries after impossible answers, cross-check, race, time limits."""
import multiprocessing
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import lipc
from lipc.cli.main import main
from lipc.question.domain import Domain
from lipc.errors import QueryError, SolverError
from lipc.core.mip import FlatMIP
from lipc.solvers import (REGISTRY, Backend, SolveOptions, SolverOutcome, Status, get, names,
                          solve_mip)
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from oracle import lipschitz_many

OPEN = ["cbc", "highs", "scip"]
INF = np.inf


def backend_or_skip(name: str) -> Backend:
    b = REGISTRY[name]
    if not b.usable():
        pytest.skip(f"{name} not usable here: {b.install}")
    return b


def flat(lb, ub, integer, obj, rows, const=0.0) -> FlatMIP:
    """rows: list of (lo, {col: coef}, hi)."""
    indptr, indices, data = [0], [], []
    for _, coefs, _ in rows:
        indices += list(coefs)
        data += list(coefs.values())
        indptr.append(len(indices))
    n = len(lb)
    return FlatMIP([f"x{j}" for j in range(n)], np.array(lb, float), np.array(ub, float),
                   np.array(integer, bool), np.array(obj, float), [f"r{i}" for i in range(len(rows))],
                   np.array(indptr, np.int64), np.array(indices, np.int64), np.array(data, float),
                   np.array([r[0] for r in rows], float), np.array([r[2] for r in rows], float),
                   const)


# name -> (model, optimum)
TINY = {
    # 0/1 knapsack: max 5a + 4b + 3c, 2a + 3b + c <= 5
    "knapsack": (flat([0] * 3, [1] * 3, [1] * 3, [5, 4, 3], [(-INF, {0: 2, 1: 3, 2: 1}, 5)]), 9.0),
    # equality row, negative bounds, general integer, objective constant
    "mixed": (flat([-1, -2], [10, 2], [0, 1], [1, 2], [(3.5, {0: 1, 1: 1}, 3.5)], const=3.0), 8.5),
    # a >= row pushing an integer up: max -x, x >= 2.25
    "geq": (flat([0], [10], [1], [-1], [(2.25, {0: 1}, INF)]), -3.0),
    # a true range row (both sides finite): max x + y, 1 <= x - y <= 2, x + y <= 7.5
    "range": (flat([0, 0], [5, 5], [1, 0], [1, 1], [(1, {0: 1, 1: -1}, 2), (-INF, {0: 1, 1: 1}, 7.5)]),
              7.0),
    # big-M link (trickle flow): max y - 1000 b, y - M b <= 0, y <= 100: optimum 0
    "bigm": (flat([0, 0], [100, 1], [0, 1], [1, -1000], [(-INF, {0: 1, 1: -1e4}, 0)]), 0.0),
    # no integers: an LP
    "lp": (flat([0, 0], [INF, INF], [0, 0], [3, 2], [(-INF, {0: 1, 1: 1}, 4), (-INF, {0: 1, 1: 3}, 6)]),
           12.0),
    # everything folded away: a constant
    "constant": (flat([], [], [], [], [], const=4.5), 4.5),
}


@pytest.mark.parametrize("case", list(TINY))
@pytest.mark.parametrize("name", names())
def test_conformance_tiny_mips(name, case):
    b = backend_or_skip(name)
    m, want = TINY[case]
    out = b.solve(m, SolveOptions())
    assert out.status == Status.OPTIMAL, out.log[-5:]
    assert out.solver == name and out.seconds >= 0
    assert out.incumbent == pytest.approx(want, abs=1e-6)
    assert out.bound >= out.incumbent - 1e-9 and out.gap is not None and out.gap <= 1e-6
    assert out.settings["feasibility_tol"] <= 1e-9 and "integrality_tol" in out.settings
    x = out.x
    assert x.shape == (m.n_cols,)
    assert np.all(x >= m.lb - 1e-9) and np.all(x <= m.ub + 1e-9)
    assert np.allclose(x[m.integer], np.round(x[m.integer]), atol=1e-6)
    ax = m.dense() @ x
    assert np.all(ax >= m.row_lo - 1e-6) and np.all(ax <= m.row_hi + 1e-6)
    assert m.obj @ x + m.obj_const == pytest.approx(out.incumbent, abs=1e-6)


@pytest.mark.parametrize("case", ["knapsack", "mixed", "geq", "range"])
@pytest.mark.parametrize("solver", OPEN)
def test_cutoff_answers_only_above_it(solver, case):
    """A cutoff (branch-and-bound nodes: the incumbent) below the optimum leaves it; above it,
    `infeasible` is the answer (the optimum is below), not a failure to retry; the objective's
    constant counts."""
    backend_or_skip(solver)
    m, want = TINY[case]
    opts = SolveOptions(solver=solver, retry=False)
    below = solve_mip(m, replace(opts, cutoff=want - 0.5))
    assert below.status == Status.OPTIMAL and below.incumbent == pytest.approx(want, abs=1e-6)
    assert solve_mip(m, replace(opts, cutoff=want + 0.5)).status == Status.INFEASIBLE
    with pytest.raises(SolverError):       # without a cutoff infeasible stays a failure
        solve_mip(m.with_objective_floor(want + 0.5), opts)


INFEASIBLE = flat([0], [1], [1], [1], [(1, {0: 2}, 1)])               # 2x = 1, x binary
UNBOUNDED = flat([0, 0], [INF, 1], [0, 1], [1, 0], [(-INF, {0: -1, 1: 1}, 0)])


@pytest.mark.parametrize("name", names())
def test_impossible_answers_are_reported_as_such(name):
    b = backend_or_skip(name)
    assert b.solve(INFEASIBLE, SolveOptions()).status in (Status.INFEASIBLE, Status.INF_OR_UNBD)
    assert b.solve(UNBOUNDED, SolveOptions()).status in (Status.UNBOUNDED, Status.INF_OR_UNBD)


def test_no_answer_is_never_a_result():
    """Every usable solver says infeasible: an error listing each attempt, never a value."""
    with pytest.raises(SolverError) as e:
        solve_mip(INFEASIBLE, SolveOptions(solver="cbc"))
    msg = str(e.value)
    assert "cbc (feas 1e-09, int 1e-09) said infeasible" in msg and "presolve off" in msg
    for other in REGISTRY:
        if REGISTRY[other].usable():
            assert f"{other} (" in msg


def test_float32_like_bound_violation_is_refused():
    """Like the original LipMIP's float32 bounds: z is forced to -0.43510694801807404 but its
    'lower bound' is -0.43510693311691284, 1.5e-8 higher. Infeasible in exact arithmetic; with
    lipc's tolerances (1e-9) no solver may turn it into a value."""
    lo = -0.43510693311691284
    m = flat([lo, 0], [1, 1], [0, 1], [1, 1],
             [(-0.43510694801807404, {0: 1}, -0.43510694801807404), (-INF, {0: 1, 1: 1}, 2)])
    with pytest.raises(SolverError, match="every solver attempt failed") as e:
        solve_mip(m, SolveOptions(solver="cbc"))
    # CBC returns "optimal" with x below its bound: lipc's audit of the solution catches it
    assert ("cbc (feas 1e-09, int 1e-09) returned a solution that violates the model: bound by "
            "1.5e-08" in str(e.value))


# ------------------------------------------------------------------------------------------------
# the Lipschitz value is the same whichever solver computes it


def small_case(seed):
    rng = np.random.default_rng(7000 + seed)
    d = int(rng.integers(2, 5))
    Ws, bs = random_mlp(rng, [d] + [int(rng.integers(4, 9)) for _ in range(2)] + [2])
    center, radius = rng.uniform(0, 1, d), rng.uniform(0.1, 0.5)
    return Ws, bs, center - radius, center + radius


@pytest.mark.parametrize("seed", range(3))
def test_lipschitz_value_identical_across_solvers(seed, tmp_path):
    Ws, bs, lo, hi = small_case(seed)
    path = save_mlp(tmp_path / "net.onnx", Ws, bs)
    c = np.array([1.0, -1.0])
    want = lipschitz_many(Ws, bs, lo, hi, queries=[(c, "inf"), (c, "1")])
    net = lipc.load(path)
    for norm, exact in zip(["linf", "l1"], want):
        ref = lipc.solve(net, Domain(lo, hi), output="0-1", input_norm=norm,
                         options=SolveOptions(solver="cbc"))
        assert ref.value == pytest.approx(exact, rel=1e-6, abs=1e-12)
        for name in OPEN[1:]:
            if not REGISTRY[name].usable():
                continue
            res = lipc.solve(net, Domain(lo, hi), output="0-1", input_norm=norm,
                             options=SolveOptions(solver=name))
            assert res.status == "optimal" and res.solver == name, res.message
            assert res.value == pytest.approx(ref.value, rel=1e-9, abs=1e-12), (name, norm)
            assert res.stats["solver_settings"]["solver"] == name


def test_auto_picks_the_first_usable_in_preference_order():
    """Registry order, except that a size-limited licence ranks after the open solvers."""
    usable = [b for b in REGISTRY.values() if b.usable()]
    expected = next(b for b in usable + [None] if b is None or not b.size_limited()) or usable[0]
    assert get("auto").name == expected.name
    if any(b.size_limited() for b in usable):
        assert get("auto").name == "highs"
    with pytest.raises(QueryError, match="unknown solver 'glop'.*highs"):
        get("glop")


def test_cbc_alone_still_works(examples, monkeypatch):
    """HiGHS is a dependency, but CBC alone (highspy broken or removed) must still answer."""
    for n in REGISTRY:
        if n != "cbc":
            monkeypatch.setattr(REGISTRY[n], "available", lambda: False)
    assert get("auto").name == "cbc"
    res = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1")
    assert res.status == "optimal" and res.solver == "cbc"
    with pytest.raises(SolverError, match="'highspy' is missing"):
        get("highs")
    with pytest.raises(SolverError, match="race needs two usable solvers; usable here: cbc"):
        lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1", options=SolveOptions(solver="race"))


def test_missing_commercial_solver_names_the_package(examples, capsys):
    b = REGISTRY["gurobi"]
    if b.available():
        pytest.skip("gurobi is installed here")
    rc = main(["solve", str(examples / "toy_2_8_8_1.onnx"), "-d", "box:0:1", "--solver", "gurobi"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "'gurobipy' is missing" in err and err.startswith("lipc: error:")


@pytest.mark.parametrize("name", ["gurobi", "cplex", "xpress"])
def test_commercial_without_licence_names_the_licence_error(name, monkeypatch):
    b = REGISTRY[name]
    if b.usable():
        pytest.skip(f"{name} is usable here")

    def no_licence():
        raise RuntimeError("No license found (error 10009)")

    monkeypatch.setattr(b, "available", lambda: True)
    monkeypatch.setattr(b, "_probe", no_licence)
    monkeypatch.setattr(type(b), "_licence", None)
    assert not b.usable() and name not in [n for n in REGISTRY if REGISTRY[n].usable()]
    with pytest.raises(SolverError, match=f"'{b.module}' is installed but no usable licence.*"
                                          "No license found"):
        get(name)


# ------------------------------------------------------------------------------------------------
# robustness: retries, fallback, cross-check


def _fail_first(monkeypatch, name, status, times=1):
    b = backend_or_skip(name)
    real, calls = type(b)._solve, []

    def fake(self, flat_, opts, att, progress):
        calls.append(att)
        if len(calls) <= times:
            return SolverOutcome(status, None, None, None, 0.0, 0)
        return real(self, flat_, opts, att, progress)

    monkeypatch.setattr(type(b), "_solve", fake)
    return calls


@pytest.mark.parametrize("name", OPEN)
def test_infeasible_once_is_retried_with_tighter_tolerances(name, examples, monkeypatch):
    calls = _fail_first(monkeypatch, name, Status.INFEASIBLE)
    res = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1", options=SolveOptions(solver=name))
    assert res.status == "optimal" and res.solver == name
    assert len(calls) == 2 and not calls[1].presolve and calls[1].feas_tol < calls[0].feas_tol
    assert f"{name} (feas 1e-09, int 1e-09) said infeasible" in res.message
    assert "presolve off) gave optimal" in res.message
    assert res.stats["solver_settings"]["presolve"] is False


def test_repeated_failure_falls_back_to_another_solver(examples, monkeypatch):
    _fail_first(monkeypatch, "highs", Status.UNBOUNDED, times=2)
    res = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1", options=SolveOptions(solver="highs"))
    assert res.status == "optimal" and res.solver != "highs"
    assert res.message.count("highs (") == 2 and "said unbounded" in res.message
    ref = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1", options=SolveOptions(solver="cbc"))
    assert res.value == pytest.approx(ref.value, rel=1e-9)


def test_no_retry_fails_at_once(examples, monkeypatch):
    _fail_first(monkeypatch, "highs", Status.INFEASIBLE)
    rc = main(["solve", str(examples / "toy_2_8_8_1.onnx"), "-d", "box:0:1", "--solver", "highs",
               "--no-retry"])
    assert rc == 2


def test_cross_check_agreement_is_noted(examples, capsys):
    backend_or_skip("highs")
    rc = main(["solve", str(examples / "toy_2_8_8_1.onnx"), "-d", "box:0:1", "--solver", "highs",
               "--cross-check", "cbc"])
    out = capsys.readouterr().out
    assert rc == 0 and "cross-checked with cbc" in out


def test_cross_check_disagreement_fails_loudly(examples, monkeypatch, capsys):
    backend_or_skip("highs")
    real = type(REGISTRY["cbc"])._solve

    def off(self, flat_, opts, att, progress):
        out = real(self, flat_, opts, att, progress)
        out.incumbent *= 1 + 1e-4
        return out

    monkeypatch.setattr(type(REGISTRY["cbc"]), "_solve", off)
    rc = main(["solve", str(examples / "toy_2_8_8_1.onnx"), "-d", "box:0:1", "--solver", "highs",
               "--cross-check", "cbc"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert err.startswith("lipc: error: cross-check failed: highs found") and "cbc found" in err


# ------------------------------------------------------------------------------------------------
# race and time limits


class Sleeper(Backend):
    """A back end that never finishes (within a test): the race must stop it."""

    name, module, install = "sleeper", "numpy", "-"

    def _solve(self, flat_, opts, att, progress):
        time.sleep(120)
        return SolverOutcome(Status.ERROR, None, None, None, 0.0)


def _children() -> set[int]:
    """Live child processes (zombies included), except Python's own resource tracker, which
    every "spawn" start launches once per interpreter and which exits with it."""
    kids = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        f = task / "children"
        if f.exists():
            kids |= {int(p) for p in f.read_text().split()}
    def tracker(pid):
        try:
            return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
    return {k for k in kids if not tracker(k)}


def test_race_keeps_the_first_proof_and_stops_the_other(examples, monkeypatch):
    backend_or_skip("highs")
    monkeypatch.setitem(REGISTRY, "sleeper", Sleeper())
    before = _children()
    t = time.perf_counter()
    res = lipc.solve(examples / "classifier_4_16_16_3.onnx", "linf:0.5:0.1", output="0-1",
                     options=SolveOptions(solver="race:highs,sleeper"))
    assert time.perf_counter() - t < 60
    assert res.status == "optimal" and res.solver == "highs" and res.value > 0
    assert "race highs vs sleeper" in res.message and "sleeper stopped" in res.message
    assert multiprocessing.active_children() == [] and _children() <= before


def test_race_of_two_real_solvers(examples):
    if len([n for n in OPEN if REGISTRY[n].usable()]) < 2:
        pytest.skip("needs two open solvers")
    before = _children()
    res = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1", options=SolveOptions(solver="race"))
    ref = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1", options=SolveOptions(solver="cbc"))
    assert res.status == "optimal" and res.value == pytest.approx(ref.value, rel=1e-9)
    assert multiprocessing.active_children() == [] and _children() <= before


@pytest.mark.parametrize("name", OPEN)
def test_time_limit_gives_an_interval(name, examples):
    backend_or_skip(name)
    t = time.perf_counter()
    res = lipc.solve(examples / "mlp_10_20_30_20_2.onnx", "box:0:1", output="0-1",
                     options=SolveOptions(solver=name, time_limit=1.0))
    # a sanity bound, not a timing: the limit covers compile and solve, the primal search and
    # the certificate come on top, and CI machines are loaded
    assert time.perf_counter() - t < 120
    assert res.status in ("time_limit", "no_solution") and res.value is None
    assert res.upper is not None and res.solver == name
    if res.status == "time_limit":
        assert res.incumbent <= res.upper and res.lower <= res.upper


def test_loose_tolerances_on_shrunken_bounds_never_give_a_wrong_value(tmp_path, monkeypatch):
    """Continuous bounds rounded inward (as float32 bounds without outward margin would be) and
    Gurobi-like loose tolerances: lipc recovers the exact value or declines to give one."""
    import lipc.compiler.entry as entry      # where compile() calls lower_problem
    Ws, bs, lo, hi = small_case(5)
    path = save_mlp(tmp_path / "net.onnx", Ws, bs)
    c = np.array([1.0, -1.0])
    exact = lipschitz_many(Ws, bs, lo, hi, queries=[(c, "inf")])[0]
    real = entry.lower_problem

    def shrunk(p):
        low = real(p)
        m, cont = low.mip, ~low.mip.integer
        m.lb[cont] += 1e-7 * np.abs(m.lb[cont])
        m.ub[cont] -= 1e-7 * np.abs(m.ub[cont])
        return low

    monkeypatch.setattr(entry, "lower_problem", shrunk)
    for name in OPEN:
        if not REGISTRY[name].usable():
            continue
        try:
            res = lipc.solve(path, Domain(lo, hi), output="0-1", input_norm="linf",
                             options=SolveOptions(solver=name, feas_tol=1e-6, int_tol=1e-5))
        except SolverError:
            continue                                   # refusing is allowed
        if res.value is not None:
            assert res.value == pytest.approx(exact, rel=1e-6), name
        assert res.lower is None or res.lower <= exact * (1 + 1e-9)
