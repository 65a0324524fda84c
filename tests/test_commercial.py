"""Gurobi, CPLEX and Xpress for real, under the size-limited licences their pip packages carry:
values against the region-enumeration oracle, the licence limits (probed on the vendor's own
library), auto/race/explicit choice on a model over a limit, parameters the solver actually holds,
the audit + retry ladder, cross-check and progress per back end."""
import dataclasses
import json

import numpy as np
import pytest

import lipc
from lipc.cli.main import main
from lipc.question.domain import Domain
from lipc.errors import SolverError
from lipc.solvers import REGISTRY, Progress, SolveOptions, Status, get, solve_mip
from lipc.solvers.commercial import LicenceLimitError, SizeLimit, _probe_model
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from oracle import lipschitz_many

COMMERCIAL = ["gurobi", "cplex", "xpress"]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def usable_or_skip(name: str):
    b = REGISTRY[name]
    if not b.usable():
        pytest.skip(f"{name} not usable here: {b.install}")
    return b


# 4 random nets x (linf, l1 input norm, linf vector output norm) = 12 instances per back end
SEEDS = range(4)
QUERIES = [("0-1", None, "linf"), ("0-1", None, "l1"), (None, "linf", "linf")]
_cache: dict = {}


def case(seed, tmp_path_factory):
    if seed not in _cache:
        rng = np.random.default_rng(9100 + seed)
        d = int(rng.integers(2, 4))
        Ws, bs = random_mlp(rng, [d, int(rng.integers(4, 8)), int(rng.integers(4, 8)), 2])
        center, radius = rng.uniform(0, 1, d), rng.uniform(0.1, 0.4)
        lo, hi = center - radius, center + radius
        c = np.array([1.0, -1.0])
        want = lipschitz_many(Ws, bs, lo, hi,
                              queries=[(c, "inf"), (c, "1"), (None, "inf", "inf")])
        path = save_mlp(tmp_path_factory.mktemp("net") / "net.onnx", Ws, bs)
        _cache[seed] = (lipc.load(path), Domain(lo, hi), want)
    return _cache[seed]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", COMMERCIAL)
def test_commercial_equals_the_oracle(name, seed, tmp_path_factory):
    usable_or_skip(name)
    net, dom, want = case(seed, tmp_path_factory)
    for (out, onorm, inorm), exact in zip(QUERIES, want):
        res = lipc.solve(net, dom, output=out, input_norm=inorm,
                         options=SolveOptions(solver=name), output_norm=onorm)
        assert res.status == "optimal" and res.solver == name, res.message
        assert res.value == pytest.approx(exact, rel=1e-6, abs=1e-9), (name, seed, inorm, onorm)


@pytest.mark.parametrize("name", COMMERCIAL)
def test_shipped_classifier_on_every_back_end(name, examples, capsys):
    usable_or_skip(name)
    args = ["solve", str(examples / "classifier_4_16_16_3.onnx"), "--domain",
            f"linf:{examples / 'x0_4.npy'}:0.1", "--output", "0-1", "--json", "--quiet"]
    assert main(args + ["--solver", "highs"]) == 0
    ref = capsys.readouterr().out
    assert main(args + ["--solver", name, "--cross-check", "highs"]) == 0
    got, ref = json.loads(capsys.readouterr().out), json.loads(ref)
    assert got["status"] == "optimal" and got["value"] == pytest.approx(ref["value"], rel=1e-9)
    assert "cross-checked with highs" in json.dumps(got)


# ------------------------------------------------------------------------------------------------
# licence limits


@pytest.mark.parametrize("name", COMMERCIAL)
def test_licence_limit_is_the_vendors_own(name):
    """The limit in force was found by the vendor refusing a model one column over it; a model at
    the limit solves, one over it is refused and classified."""
    b = usable_or_skip(name)
    lim = b.size_limit()
    if lim is None:
        pytest.skip(f"{name} has an unrestricted licence here")
    assert lim == b.free_limit
    at = lim.probe_columns() - 1
    out = b.solve(_probe_model(at), SolveOptions())
    assert out.status == Status.OPTIMAL and out.incumbent == pytest.approx(at)
    over = _probe_model(at + 1)
    assert b.fits(_probe_model(at)) is None and "this MIP has" in b.fits(over)
    with pytest.raises(LicenceLimitError, match="licence refuses this model"):
        b.solve(over, SolveOptions())                # bypassing fits(): the vendor's error


def test_over_every_real_limit_auto_uses_an_open_solver():
    """A 5001-column LP is over all three free licences (no patching): auto solves it on an open
    back end and says why each commercial one was left out (race makes the same choice: tested
    with patched limits below); the explicit choice is refused."""
    limited = [n for n in COMMERCIAL if REGISTRY[n].usable() and REGISTRY[n].size_limit()]
    if not limited:
        pytest.skip("no size-limited commercial licence here")
    big = _probe_model(5001)
    out = solve_mip(big, SolveOptions())
    assert out.status == Status.OPTIMAL and out.incumbent == pytest.approx(5001)
    assert out.solver not in COMMERCIAL and out.notes[0].startswith(f"auto chose {out.solver}: ")
    for n in limited:
        assert f"{n} skipped: {REGISTRY[n].free_limit.describe()}; this MIP has 5001 columns " \
               "and 0 rows" in out.notes[0]
    for n in limited:
        with pytest.raises(SolverError, match=f"solver '{n}' cannot take this model: .*allows"):
            get(n, big)


@pytest.fixture
def tiny_limits(monkeypatch):
    """Every commercial licence limited to 10 columns (so the toy net is over it)."""
    for n in COMMERCIAL:
        b = REGISTRY[n]
        if b.usable():
            monkeypatch.setattr(type(b), "_limit", (SizeLimit(f"{n}'s test licence", 10, 10), None))


def test_auto_and_race_skip_a_licence_that_cannot_take_the_model(examples, tiny_limits):
    if not any(REGISTRY[n].usable() for n in COMMERCIAL):
        pytest.skip("no commercial back end usable here")
    res = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1")
    assert res.status == "optimal" and res.solver not in COMMERCIAL
    assert f"auto chose {res.solver}" in res.message and "test licence allows at most 10" in \
        res.message
    ref = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1", options=SolveOptions(solver="cbc"))
    assert res.value == pytest.approx(ref.value, rel=1e-9)
    raced = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1",
                       options=SolveOptions(solver="race"))
    assert raced.solver not in COMMERCIAL and "race chose" in raced.message


@pytest.mark.parametrize("name", COMMERCIAL)
def test_a_failed_licence_probe_leaves_the_back_end_out(name, examples, monkeypatch):
    b = usable_or_skip(name)

    def broken(*args):
        raise RuntimeError("licence server unreachable")

    monkeypatch.setattr(type(b), "_run", broken)
    monkeypatch.setattr(type(b), "_limit", None)
    assert "licence probe failed (RuntimeError: licence server unreachable)" in b.fits(
        _probe_model(1))
    res = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1")
    assert res.status == "optimal" and res.solver != name
    assert f"{name} skipped: its licence probe failed" in res.message


@pytest.mark.parametrize("name", COMMERCIAL)
def test_explicit_choice_over_the_limit_is_one_line(name, examples, tiny_limits, capsys):
    usable_or_skip(name)
    rc = main(["solve", str(examples / "toy_2_8_8_1.onnx"), "-d", "box:0:1", "--solver", name])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("lipc: error:") and "\n" not in err
    assert f"solver '{name}' cannot take this model" in err and "allows at most 10 columns" in err
    assert "this MIP has" in err


# ------------------------------------------------------------------------------------------------
# parameters, audit + retries, progress


@pytest.mark.parametrize("name", COMMERCIAL)
def test_parameters_the_solver_holds(name, examples):
    usable_or_skip(name)
    opts = SolveOptions(solver=name, threads=2, seed=11, gap=1e-6, gap_abs=1e-8, time_limit=40,
                        feas_tol=1e-8, int_tol=1e-7)
    res = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1", options=opts)
    native = res.stats["solver_settings"]["native"]
    want = {"gurobi": {"Threads": 2, "Seed": 11, "MIPGap": 1e-6, "MIPGapAbs": 1e-8,
                       "TimeLimit": pytest.approx(40, abs=1), "FeasibilityTol": 1e-8,
                       "IntFeasTol": 1e-7},
            "cplex": {"threads": 2, "randomseed": 11, "mip.tolerances.mipgap": 1e-6,
                      "mip.tolerances.absmipgap": 1e-8, "timelimit": pytest.approx(40, abs=1),
                      "simplex.tolerances.feasibility": 1e-8, "mip.tolerances.integrality": 1e-7},
            "xpress": {"threads": 2, "randomseed": 11, "miprelstop": 1e-6, "mipabsstop": 1e-8,
                       "maxtime": -40, "feastol": 1e-8, "miptol": 1e-7,
                       "mipaddcutoff": -1e-8, "miprelcutoff": 1e-6}}[name]
    assert {k: native[k] for k in want} == want
    lim = REGISTRY[name].size_limit()
    assert res.stats["solver_settings"]["licence"] == (
        f"size-limited: {lim.describe()}" if lim else "unrestricted")


@pytest.mark.parametrize("name", COMMERCIAL)
def test_audit_rejects_a_bad_solution_and_the_retry_succeeds(name, examples, monkeypatch):
    b = usable_or_skip(name)
    real, calls = type(b)._run, []

    def corrupt_first(self, flat, opts, att, progress):
        out = real(self, flat, opts, att, progress)
        calls.append(att)
        if len(calls) == 1 and out.x is not None:
            out.x = out.x + 1e-3                        # breaks bounds/rows far beyond 1e-9
        return out

    monkeypatch.setattr(type(b), "_run", corrupt_first)
    res = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1", options=SolveOptions(solver=name))
    assert res.status == "optimal" and res.solver == name
    assert len(calls) == 2 and not calls[1].presolve
    assert "returned a solution that violates the model" in res.message


@pytest.mark.parametrize("name", COMMERCIAL)
def test_progress_callback(name, examples):
    usable_or_skip(name)
    seen = []
    p, low = lipc.compile(examples / "classifier_4_16_16_3.onnx",
                          f"linf:{examples / 'x0_4.npy'}:0.1", output="0-1")
    prog = Progress(name, True, sink=lambda *a: seen.append(a), every=0.0)
    out = REGISTRY[name].solve(low.mip, SolveOptions(), None, prog)
    assert out.status == Status.OPTIMAL and seen
    assert all(len(s) == 4 for s in seen)


def test_cross_check_between_commercial_back_ends(examples):
    names = [n for n in COMMERCIAL if REGISTRY[n].usable()]
    if len(names) < 2:
        pytest.skip("needs two commercial back ends")
    for a, b in zip(names, names[1:] + names[:1]):
        res = lipc.solve(examples / "toy_2_8_8_1.onnx", "box:0:1",
                         options=SolveOptions(solver=a, cross_check=b))
        assert res.solver == a and f"cross-checked with {b}" in res.message


@dataclasses.dataclass
class _WithStart(SolveOptions):
    """SolveOptions plus the ``start`` field of the branch-and-bound work (not on this branch)."""

    start: object = None


START_ACCEPTED = {"gurobi": "Loaded user MIP start with objective",
                  "cplex": "MIP start 'lipc' defined initial solution",
                  "xpress": "User solution (lipc) accepted: Feasible solution"}


@pytest.mark.parametrize("name", COMMERCIAL)
def test_mip_start_is_passed_and_accepted(name, examples):
    b = usable_or_skip(name)
    p, low = lipc.compile(examples / "classifier_4_16_16_3.onnx",
                          f"linf:{examples / 'x0_4.npy'}:0.1", output="0-1")
    ref = REGISTRY["cbc"].solve(low.mip, SolveOptions())
    out = b.solve(low.mip, _WithStart(start=ref.x))
    assert out.status == Status.OPTIMAL
    assert out.incumbent == pytest.approx(ref.incumbent, rel=1e-7)
    assert any(START_ACCEPTED[name] in line for line in out.log), out.log[-20:]
    with pytest.raises(SolverError, match="MIP start has 3 values, the model 80 columns"):
        b.solve(low.mip, _WithStart(start=[0.0, 0.0, 0.0]))
