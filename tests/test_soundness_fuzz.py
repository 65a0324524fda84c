"""Soundness fuzz (issues 15/16): every engine, domain kind, norm, output side and stop against
the brute-force oracle (tests/oracle.py).

"Exact means exact": whatever lipc reports must hold for the true constant L (the oracle's):
``lower <= L <= upper`` (to 1e-9 of the problem's scale, the size float64 rounding of the
Jacobian products can reach), ``optimal`` only with a closed interval that contains L, a status
from the documented set, and JSON without NaN.  The certified radius of ``lipc.certify`` never
exceeds the radius of the exact constants, and ``solve_range`` brackets the brute-force range.

Nets are small and drawn from a seed, with the degenerate shapes of issue 15: duplicate, dead
and always-active (zero-row) neurons, a hyperplane through the domain's centre, weights spanning
1e+-6, outputs scaled by 1e+-8.  Hypothesis is derandomized (the same examples every run); a
failure prints its ``Case``, which rebuilds the net and the question.  ``LIPC_FUZZ_EXAMPLES=2000``
runs more examples (outside the suite).
"""
from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import lipc
from lipc.api import solve_range
from lipc.bab.driver import BabOptions
from lipc.util.text import json_text
from lipc.verify.primal import pattern_columns, verify_columns
from oracle import enumerate_region_data

# lipc's closing tolerance (README, "optimal") and the soundness slack against the oracle
CLOSED = 1e-6
SLACK = 1e-9
STATUSES = {"optimal", "gap_reached", "time_limit", "node_limit", "no_solution", "unverified",
            "contradicted", "interrupted",
            "stalled"}          # lipc.bab: every open node too narrow to split (bab/driver.py)
EXAMPLES = int(os.environ.get("LIPC_FUZZ_EXAMPLES", "0"))


def _settings(default: int):
    return settings(max_examples=EXAMPLES or default, derandomize=True, database=None,
                    deadline=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------------------- the cases

DEGENERACIES = ("none", "duplicate", "dead", "zero_row", "through_centre", "spread")
DOMAINS = ("box", "linf_clip", "l1", "polytope", "thin_box")
OUTPUTS = ("index", "margin", "weights", "norm:linf", "norm:l1", "norm:margin")
STOPS = ("none", "node_limit", "time_limit")


@dataclass(frozen=True)
class Case:
    """One fuzz example: its repr is the reproducer (``Case(...).net()`` / ``.domain()``)."""

    seed: int
    sizes: tuple[int, ...]
    degeneracy: str
    out_scale: float
    domain_kind: str
    input_norm: str
    output: str
    engine: str = "mip"
    stop: str = "none"
    node_limit: int = 1

    def rng(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])

    def net(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        rng = self.rng(0)
        Ws, bs = [], []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:]):
            Ws.append(rng.uniform(-1, 1, (fan_out, fan_in)))
            bs.append(rng.uniform(-0.5, 0.5, fan_out))
        DEGENERATE[self.degeneracy](Ws, bs, rng, self.centre())
        Ws[-1] = Ws[-1] * self.out_scale
        bs[-1] = bs[-1] * self.out_scale
        return Ws, bs

    def centre(self) -> np.ndarray:
        return self.rng(1).uniform(0.2, 0.8, self.sizes[0])

    def domain(self):
        """(lipc domain object, oracle box lo/hi, oracle polytope A/b or None)."""
        return DOMAIN_BUILDERS[self.domain_kind](self.centre(), self.rng(2))

    def question(self) -> dict:
        """The output side as lipc.solve keywords, and the seed vectors C for the oracle."""
        m = self.sizes[-1]
        kind, _, arg = self.output.partition(":")
        if kind == "norm":
            return dict(output_norm=arg)
        rng = self.rng(3)
        if kind == "index":
            return dict(output=int(rng.integers(m)))
        if kind == "margin":
            i, j = rng.choice(m, 2, replace=False)
            return dict(output=(int(i), int(j)))
        return dict(output=rng.normal(size=m))


def _duplicate(Ws, bs, rng, x0):
    Ws[0][-1], bs[0][-1] = Ws[0][0], bs[0][0]


def _dead(Ws, bs, rng, x0):
    bs[0][0] = -10.0 * (np.abs(Ws[0][0]).sum() + 1.0)        # never active on [0, 1]^d


def _zero_row(Ws, bs, rng, x0):
    Ws[0][0] = 0.0                                            # constant, active or not
    bs[0][0] = rng.choice([-0.5, 0.5])
    if len(Ws) > 2:
        Ws[1][:, 0] = 0.0                                     # a zero column downstream too


def _through_centre(Ws, bs, rng, x0):
    bs[0][:] = -(Ws[0] @ x0)                                  # every first-layer hyperplane


def _spread(Ws, bs, rng, x0):
    for W in Ws:                                              # weights spanning 1e-6 .. 1e6
        W *= 10.0 ** rng.uniform(-6, 6, W.shape)


DEGENERATE = {"none": lambda *a: None, "duplicate": _duplicate, "dead": _dead,
              "zero_row": _zero_row, "through_centre": _through_centre, "spread": _spread}


def _v(a: np.ndarray):
    """An array argument of a domain object; a number for one input (lipc.Box(array([0.6]),
    ...) raises TypeError: test_one_element_arrays_make_a_domain)."""
    return float(a[0]) if a.size == 1 else a


def _box(c, rng):
    lo, hi = c - rng.uniform(0.05, 0.3, c.size), c + rng.uniform(0.05, 0.3, c.size)
    return lipc.Box(_v(lo), _v(hi)), lo, hi, None, None


def _thin_box(c, rng):
    lo, hi = c - 5e-10, c + 5e-10
    return lipc.Box(_v(lo), _v(hi)), lo, hi, None, None


def _linf_clip(c, rng):
    r = float(rng.uniform(0.1, 0.4))
    return (lipc.LinfBall(_v(c), r, clip=(0.3, 0.9)), np.maximum(c - r, 0.3),
            np.minimum(c + r, 0.9), None, None)


def _l1(c, rng):
    r = float(rng.uniform(0.05, 0.4))
    S = np.array(list(itertools.product([-1.0, 1.0], repeat=c.size)))
    return lipc.L1Ball(_v(c), r), c - r, c + r, S, S @ c + r


def _polytope(c, rng):
    A = rng.normal(size=(c.size + 2, c.size))
    b = A @ c + rng.uniform(0.05, 0.4, c.size + 2)
    return lipc.Polytope(A, b, clip=(-1.0, 2.0)), -np.ones(c.size), 2 * np.ones(c.size), A, b


DOMAIN_BUILDERS = {"box": _box, "thin_box": _thin_box, "linf_clip": _linf_clip, "l1": _l1,
                   "polytope": _polytope}


@st.composite
def cases(draw, engines=("mip", "bab", "auto"), stops=STOPS, min_outputs=1) -> Case:
    d = draw(st.integers(1, 3))
    hidden = draw(st.lists(st.integers(2, 5), min_size=1, max_size=2))
    m = draw(st.integers(max(min_outputs, 1), 3))
    output = draw(st.sampled_from([o for o in OUTPUTS if m > 1 or "margin" not in o]))
    engine = draw(st.sampled_from(engines))
    stop = draw(st.sampled_from(stops if engine != "mip" else ("none", "time_limit")))
    return Case(seed=draw(st.integers(0, 2 ** 32 - 1)), sizes=(d, *hidden, m),
                degeneracy=draw(st.sampled_from(DEGENERACIES)),
                out_scale=draw(st.sampled_from([1.0, 1e-8, 1e8])),
                domain_kind=draw(st.sampled_from(DOMAINS)),
                input_norm=draw(st.sampled_from(["linf", "l1"])), output=output,
                engine=engine, stop=stop, node_limit=draw(st.integers(1, 5)))


# ------------------------------------------------------------------------------- the oracle

def _seeds(case: Case, q: dict, center_class: int) -> np.ndarray:
    m = case.sizes[-1]
    I = np.eye(m)
    if "output" in q:
        out = q["output"]
        return (I[out][None] if isinstance(out, int) else (I[out[0]] - I[out[1]])[None]
                if isinstance(out, tuple) else np.asarray(out)[None])
    return {"linf": np.vstack([I, -I]),
            "l1": np.array(list(itertools.product([-1.0, 1.0], repeat=m))),
            "margin": np.array([I[i] - I[j] for i in range(m) for j in range(m) if i != j])
            }[q["output_norm"]]


def _dual(norm: str, g: np.ndarray) -> float:
    return float(np.abs(g).sum() if norm == "linf" else np.abs(g).max())


def in_unit_cube(Ws, bs, lo, hi, A, b):
    """The net and polytope in the coordinates u of x = lo + w u (u in the unit cube), so that
    a box 1e-9 wide is as well conditioned for the oracle as any other."""
    w = hi - lo
    Au, bu = (None, None) if A is None else (A * w, b - A @ lo)
    return [Ws[0] * w, *Ws[1:]], [bs[0] + Ws[0] @ lo, *bs[1:]], Au, bu


def _regions(Ws, bs, lo, hi, A, b, tol: float = 1e-9):
    """The Jacobians (in x) of the oracle's regions (those with a Chebyshev radius > tol)."""
    Wu, bu, Au, cu = in_unit_cube(Ws, bs, lo, hi, A, b)
    ones = np.ones(lo.size)
    return [r.jacobian / (hi - lo)
            for r in enumerate_region_data(Wu, bu, 0 * ones, ones, Au, cu, tol=tol)]


def oracle_value(case: Case, Ws, bs, lo, hi, A, b, C, tol: float = 1e-9
                 ) -> tuple[float, float]:
    """(the exact constant, the scale of its rounding: the same norm of |W_L| ... |W_1|)."""
    jacs = _regions(Ws, bs, lo, hi, A, b, tol)
    value = max(_dual(case.input_norm, J.T @ c) for J in jacs for c in C)
    P = np.abs(Ws[0])
    for W in Ws[1:]:
        P = np.abs(W) @ P
    scale = max(_dual(case.input_norm, P.T @ np.abs(c)) for c in C)
    return value, max(scale, abs(value))


def _forward(Ws, bs, x):
    h = x
    for W, b in zip(Ws[:-1], bs[:-1]):
        h = np.maximum(W @ h + b, 0.0)
    return Ws[-1] @ h + bs[-1]


# ------------------------------------------------------------------------------- the checks

def _options(case: Case):
    # the stop's size: node_limit nodes (1..5), or 10**(node_limit - 5) seconds (1e-4..1)
    opts = lipc.SolveOptions(time_limit=10.0 ** (case.node_limit - 5)
                             if case.stop == "time_limit" else None)
    bab = BabOptions(mip_binaries=2, node_limit=case.node_limit if case.stop == "node_limit"
                     else None)
    return opts, bab


def _nans(obj, path: str = ""):
    """The paths of NaN entries of a nested report (json_text would hide them as null)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _nans(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _nans(v, f"{path}[{i}]")
    elif isinstance(obj, (float, np.floating)) and math.isnan(obj):
        yield path


def check_result(res, want: float, scale: float, what: str) -> None:
    """The contract of a LipschitzResult against the exact value ``want``."""
    tol = SLACK * scale
    assert res.status in STATUSES, f"{what}: undocumented status {res.status!r}"
    for name in ("value", "lower", "upper", "gap"):
        v = getattr(res, name)
        assert v is None or math.isfinite(v), f"{what}: {name} = {v!r}"
    report = res.to_dict()
    assert not list(_nans(report)), f"{what}: NaN in the result at {list(_nans(report))}"
    json.loads(json_text(report))                 # strict JSON (infinity written as null)
    assert res.lower is None or res.lower <= want + tol, \
        f"{what}: lower {res.lower!r} > exact {want!r} ({res.status}: {res.message})"
    assert res.upper is None or res.upper >= want - tol, \
        f"{what}: upper {res.upper!r} < exact {want!r} ({res.status}: {res.message})"
    if res.status == "optimal":
        assert res.value is not None and res.lower is not None and res.upper is not None, what
        assert res.lower <= res.value <= res.upper, what
        assert res.upper - res.lower <= CLOSED * max(abs(res.lower), abs(res.upper)), \
            f"{what}: optimal but [{res.lower!r}, {res.upper!r}] is not closed to {CLOSED}"
    else:
        assert res.value is None, f"{what}: value {res.value!r} with status {res.status}"


def run_case(case: Case) -> None:
    Ws, bs = case.net()
    dom, lo, hi, A, b = case.domain()
    q = case.question()
    x0 = 0.5 * (lo + hi)
    C = _seeds(case, q, int(np.argmax(_forward(Ws, bs, x0))))
    want, scale = oracle_value(case, Ws, bs, lo, hi, A, b, C)
    net = lipc.from_layers(list(zip(Ws, bs)))
    opts, bab = _options(case)
    try:
        res = lipc.solve(net, dom, input_norm=case.input_norm, options=opts,
                         engine=case.engine, bab=bab, **q)
    except lipc.NumericError:       # a refusal (e.g. a coefficient of 1e19 beyond the solvers'
        return                      # range) is an honest answer to weights of 1e6 on 1e-9 boxes
    if res.lower is not None and res.lower > want + SLACK * scale:
        # a region thinner than the oracle's Chebyshev radius 1e-9 (measured: 4e-10 wide with
        # a gradient of 646760 against 53.27 elsewhere, weights spanning 1e+-6): ask again finer
        want = max(want, oracle_value(case, Ws, bs, lo, hi, A, b, C, tol=1e-12)[0])
    check_result(res, want, scale, repr(case))


@_settings(25)
@given(cases())
def test_lipschitz_interval_contains_the_exact_constant(case):
    run_case(case)


# ------------------------------------------------------------------------------- certify

def oracle_radius(case: Case, Ws, bs, ball_kind: str, r: float) -> float:
    """min over classes j of margin_j / L_j (exact constants over the ball), capped by the
    largest input-norm ball inside the domain ball."""
    c = case.centre()
    f0 = _forward(Ws, bs, c)
    y = int(np.argmax(f0))
    if ball_kind == "linf":
        lo, hi, A, b = c - r, c + r, None, None
    else:
        S = np.array(list(itertools.product([-1.0, 1.0], repeat=c.size)))
        lo, hi, A, b = c - r, c + r, S, S @ c + r
    jacs = _regions(Ws, bs, lo, hi, A, b)
    cap = r / c.size if (ball_kind, case.input_norm) == ("l1", "linf") else r
    radii = [cap]
    for j in range(len(f0)):
        if j != y:
            g = np.eye(len(f0))[y] - np.eye(len(f0))[j]
            L = max(_dual(case.input_norm, J.T @ g) for J in jacs)
            radii.append(math.inf if L == 0 else (f0[y] - f0[j]) / L)
    return min(radii)


@_settings(4)
@given(cases(engines=("mip",), stops=("none",), min_outputs=2), st.sampled_from(["linf", "l1"]))
def test_certified_radius_never_exceeds_the_exact_one(case, ball_kind):
    case = replace(case, out_scale=1.0 if case.out_scale > 1 else case.out_scale)
    Ws, bs = case.net()
    r = 0.1
    c = _v(case.centre())
    ball = lipc.LinfBall(c, r, clip=None) if ball_kind == "linf" else lipc.L1Ball(c, r)
    got = lipc.certify(lipc.from_layers(list(zip(Ws, bs))), ball, input_norm=case.input_norm)
    want = oracle_radius(case, Ws, bs, ball_kind, r)
    assert got.radius <= want * (1 + SLACK), (case, ball_kind, got.radius, want)
    if got.status == "certified":
        assert got.radius == pytest.approx(want, rel=CLOSED), (case, ball_kind, got, want)


# ------------------------------------------------------------------------------- ranges

def brute_range(Ws, bs, lo, hi, A, b, c) -> tuple[float, float]:
    """min and max of <c, f> over the domain: an LP per activation region (f is affine there),
    in the unit-cube coordinates (the range does not depend on them)."""
    d = lo.size
    Ws, bs, A, b = in_unit_cube(Ws, bs, lo, hi, A, b)
    lo, hi = np.zeros(d), np.ones(d)
    regions = enumerate_region_data(Ws, bs, lo, hi, A, b)
    best_lo, best_hi = math.inf, -math.inf
    for r in regions:
        G, h = [], []
        pre = np.eye(d), np.zeros(d)                 # the affine map x -> hidden input
        M, v = pre
        for W, bb, p in zip(Ws[:-1], bs[:-1], r.pattern):
            Z, z = W @ M, W @ v + bb
            s = np.where(np.asarray(p) > 0, -1.0, 1.0)      # active: z >= 0, else z <= 0
            G.append(s[:, None] * Z)
            h.append(-s * z)
            M, v = np.asarray(p)[:, None] * Z, np.asarray(p) * z
        g, g0 = c @ Ws[-1] @ M, c @ (Ws[-1] @ v + bs[-1])
        Gm, hm = np.vstack(G + ([] if A is None else [A])), np.concatenate(h + ([] if A is None
                                                                                 else [b]))
        unit = g / max(np.abs(g).max(), 1e-300)      # the LP's tolerances are absolute
        for sign in (1.0, -1.0):
            res = linprog(-sign * unit, A_ub=Gm, b_ub=hm, bounds=list(zip(lo, hi)), method="highs")
            assert res.status == 0, res.message
            val = float(g @ res.x + g0)
            best_lo, best_hi = (min(best_lo, val), best_hi) if sign < 0 else \
                (best_lo, max(best_hi, val))
    return best_lo, best_hi


@_settings(6)
@given(cases(engines=("mip",), stops=("none",)), st.sampled_from(["maximize", "minimize"]))
def test_range_brackets_the_brute_force_range(case, sense):
    case = replace(case, output="weights")
    Ws, bs = case.net()
    dom, lo, hi, A, b = case.domain()
    c = case.question()["output"]
    lo_f, hi_f = brute_range(Ws, bs, lo, hi, A, b, c)
    want = hi_f if sense == "maximize" else lo_f
    P = np.abs(Ws[0]) @ np.maximum(abs(lo), abs(hi)) + abs(bs[0])    # |f|'s rounding scale
    for W, bb in zip(Ws[1:], bs[1:]):
        P = np.abs(W) @ P + abs(bb)
    tol = 1e-9 * float(np.abs(c) @ P)
    try:
        res = solve_range(lipc.from_layers(list(zip(Ws, bs))), dom, c, sense)
    except lipc.NumericError:       # a refusal (coefficients beyond the solvers' range)
        return
    assert res.status in STATUSES, (case, res.status)
    assert res.lower is None or res.lower <= want + tol, (case, sense, res, want)
    assert res.upper is None or res.upper >= want - tol, (case, sense, res, want)
    if res.status == "optimal":
        assert res.value == pytest.approx(want, rel=CLOSED, abs=tol), (case, sense, res, want)


# ------------------------------------------------------------------------------- reproducers

def test_one_element_arrays_make_a_domain():
    """Found by the fuzz (Case(seed=0, sizes=(1, 2, 1), domain_kind='box')): float() of a
    1-element array raised TypeError under NumPy 2."""
    assert lipc.Box(np.array([0.6]), np.array([0.7])).dim == 1


# bab/search.py _closed: once every node is closed the interval counts as closed to
# AGREEMENT * max(1.0, |lower|), which is relative to the problem's scale only on a normalised
# problem; unnormalised, every one of the fuzz's bab failures (15 in the first 430 examples)
# had outputs scaled 1e-8
BAB_TINY_SCALE = Case(seed=2678342386, sizes=(2, 3, 1), degeneracy="through_centre",
                      out_scale=1e-08, domain_kind="linf_clip", input_norm="l1",
                      output="norm:linf", engine="bab")


def test_bab_closes_only_to_the_relative_tolerance():
    """bab reported optimal 2.0894e-9 on [2.0894e-9, 5.5339e-9] (outputs scaled 1e-8): it
    now runs on the normalised problem, as the MIP path does."""
    Ws, bs = BAB_TINY_SCALE.net()
    dom, lo, hi, A, b = BAB_TINY_SCALE.domain()
    want, scale = oracle_value(BAB_TINY_SCALE, Ws, bs, lo, hi, A, b,
                               _seeds(BAB_TINY_SCALE, dict(output_norm="linf"), 0))
    res = lipc.solve(lipc.from_layers(list(zip(Ws, bs))), dom, input_norm="l1",
                     output_norm="linf", engine="bab")             # the default BabOptions
    check_result(res, want, scale, repr(BAB_TINY_SCALE))


def test_a_node_solution_without_unstable_neurons_is_certified():
    """Found by the fuzz (KeyError 'v6' from lipc.bab on Case(seed=2014346790, sizes=(2, 2, 2),
    out_scale=1e-08, domain_kind='thin_box', output='norm:linf', engine='bab')): a pattern
    with no gate left to evaluate, under an output norm whose set C has auxiliary inputs."""
    Ws, bs = [np.array([[1.0, 2.0], [-1.0, 0.5]]), np.array([[1.0, -3.0]])], \
        [np.array([1.0, 2.0]), np.zeros(1)]                   # both neurons active on the box
    p, low = lipc.compile(lipc.from_layers(list(zip(Ws, bs))), lipc.Box(0.0, 1.0),
                          output_norm="linf", input_norm="linf")
    w = verify_columns(p, low, pattern_columns(p, low, np.array([0.5, 0.5]), {}, None))
    assert 4.5 * (1 - 1e-12) <= w.value <= 4.5                 # J = [1 + 3, 2 - 1.5]


def test_a_range_of_tiny_outputs_is_exact():
    """Found by the fuzz: HiGHS and SCIP proved max <c, f> = -1.4823e-8 where f reaches
    -1.4177e-8 (outputs scaled 1e-8, below the solvers' absolute tolerances): solve_range
    now scales the last layer by a power of two first."""
    test_range_brackets_the_brute_force_range.hypothesis.inner_test(
        Case(seed=871789193, sizes=(3, 5, 1), degeneracy="duplicate", out_scale=1e-08,
             domain_kind="linf_clip", input_norm="linf", output="weights"), "maximize")


@pytest.mark.parametrize("sense", ["maximize", "minimize"])
def test_a_range_over_leaky_big_m_needs_a_second_solver(sense):
    """Found by the fuzz: weights of 2.6e4 x 1.7e4 x 1.9e3 ('spread'); HiGHS 1.16 proved
    max <c, f> = -14288153.6 where CBC, SCIP, Gurobi and brute force give -14188563.4 (big-M
    1110 times the 1e-9 tolerances is not small against the normalised value 0.42).  Ranges
    now doubt such an optimum like Lipschitz queries: a second solver must confirm it."""
    test_range_brackets_the_brute_force_range.hypothesis.inner_test(
        Case(seed=2, sizes=(3, 2, 3, 3), degeneracy="spread", out_scale=1.0,
             domain_kind="linf_clip", input_norm="linf", output="index"), sense)


def test_a_rejected_attempts_point_exposes_a_later_wrong_optimum():
    """Found by the fuzz (400 examples): an LP-only range (every neuron stable, values 2e7
    inside) where HiGHS and CBC claimed max 7216.0 that their point (7210.6, the true maximum)
    did not reproduce, and SCIP then proved a wrong 4926.5 at a point it did reproduce: it was
    reported `optimal` 4926.5.  Every attempt's certified point is now kept, so SCIP's bound is
    refuted (`contradicted`, [7210.6, 7384.1])."""
    case = Case(seed=2, sizes=(3, 3, 2, 3), degeneracy="spread", out_scale=1.0,
                domain_kind="linf_clip", input_norm="linf", output="index")
    test_range_brackets_the_brute_force_range.hypothesis.inner_test(case, "maximize")


def test_auto_on_the_mip_path_normalises_the_scale():
    """Found by the fuzz: ``engine="auto"`` handed the MIP solver the unnormalised problem of
    an output scaled 1e-8 and reported optimal 1.2806e-8 for an exact 1.7502e-8."""
    run_case(Case(seed=781618350, sizes=(2, 5, 3), degeneracy="through_centre",
                  out_scale=1e-08, domain_kind="thin_box", input_norm="linf",
                  output="norm:linf", engine="auto"))


def test_bab_on_a_zero_row_neuron_over_a_polytope():
    """Found by the fuzz: at the node limit the pending children were cut and forgotten, and
    with no open node left the search said optimal 1.06593 for an exact 1.50776; the held-back
    children now keep their parent's bound."""
    run_case(Case(seed=4292073548, sizes=(3, 4, 2), degeneracy="zero_row", out_scale=1.0,
                  domain_kind="polytope", input_norm="linf", output="norm:linf",
                  engine="bab", stop="node_limit", node_limit=4))


def test_an_optimal_upper_bound_is_not_below_the_constant():
    """Found by the fuzz: optimal with value 3.3938007 (exact) but upper 3.3937982, a solver
    bound 7e-7 under a certified point kept as it was; it now carries the tolerance."""
    run_case(Case(seed=1627909413, sizes=(3, 2, 2), degeneracy="spread", out_scale=1e-08,
                  domain_kind="box", input_norm="linf", output="norm:linf", engine="mip",
                  stop="time_limit", node_limit=5))


def test_a_range_over_a_thin_box_is_bracketed():
    """Found by the fuzz: on a box 1e-9 wide the hidden big-M constants are the solvers'
    feasibility tolerance; min <c, f> was proved 1.2025865130e-9 where f reaches
    1.2025865047e-9 (7e-9 relative, inside the closing tolerance): a bound on the wrong side
    of a certified point within the tolerance now carries that tolerance."""
    test_range_brackets_the_brute_force_range.hypothesis.inner_test(
        Case(seed=2012561212, sizes=(3, 2, 2), degeneracy="through_centre", out_scale=1e-08,
             domain_kind="thin_box", input_norm="linf", output="weights"), "minimize")
