"""Issue 15: exact at every scale, statuses that cannot lie, a certified lower bound.

The four wrong answers of the issue as regressions, and a scale sweep against the
region-enumeration oracle.  The certified lower bound must never exceed the oracle; the
solver's upper bound may sit below it only by the solver's relative tolerance.
"""
import json
from itertools import product

import numpy as np
import pytest

import lipc
from lipc.cli.main import main
from lipc.question.domain import Domain
from lipc.frontends.onnx.writer import save_mlp
from oracle import lipschitz_many
from test_against_oracle import draw_case

EX = "examples/classifier_4_16_16_3.onnx"
DOM = "linf:examples/x0_4.npy:0.1"
TRUE = 0.3067578246036683          # lipc's optimal value at unit scale (1e-6 of the oracle)


def test_output_scaled_by_1e_minus_8_is_exact():
    res = lipc.solve(EX, DOM, output="1e-8,-1e-8,0")
    assert res.status == "optimal"
    assert res.value == pytest.approx(TRUE * 1e-8, rel=1e-6)


def test_loose_gap_is_not_optimal():
    res = lipc.solve(EX, DOM, output="0-1", options=lipc.SolveOptions(gap=0.05))
    if res.status != "optimal":            # a solver may still prove it at once
        assert res.status == "gap_reached" and res.value is None
    assert res.lower <= TRUE * (1 + 1e-9) and res.upper >= TRUE * (1 - 1e-6)


@pytest.fixture
def huge_tiny(tmp_path):
    """|x| scaled through weights 1e12 then 2e-12: the constant is exactly 2 everywhere."""
    W = [np.array([[1e12], [-1e12]]), np.array([[2e-12, 2e-12]])]
    return save_mlp(tmp_path / "big.onnx", W, [np.zeros(2), np.zeros(1)], dtype=np.float64)


@pytest.mark.parametrize("box", ["box:-1:1", "box:0:1e-12", "box:-1e-12:1e-12", "box:1:1.00001"])
def test_huge_tiny_weights_and_thin_boxes(huge_tiny, box):
    res = lipc.solve(huge_tiny, box)
    assert res.lower is None or res.lower <= 2.0
    assert res.upper is None or res.upper >= 2.0 * (1 - 1e-9)
    if res.status == "optimal":
        assert res.value == pytest.approx(2.0, rel=1e-6)
    if box == "box:-1:1":
        assert res.status == "optimal"


def test_a_subnormal_box_is_refused(huge_tiny):
    """box:0:5e-324 gave NaN in the JSON: its width underflows every product of the certificate."""
    with pytest.raises(lipc.LipcError, match="empty interior"):
        lipc.solve(huge_tiny, "box:0:5e-324")


def test_strict_exit_and_json_without_nan(huge_tiny, capsys):
    """Stopped by a 1 s limit over the unit cube (no proof possible): exit 3, JSON without NaN."""
    net = "examples/mlp_10_20_30_20_2.onnx"
    assert main(["solve", net, "-d", "box:0:1", "--output", "0-1", "-t", "1", "--json",
                 "--strict", "-q"]) == 3
    out = json.loads(capsys.readouterr().out, parse_constant=lambda s: pytest.fail(s))
    assert out["status"] != "optimal"
    assert main(["solve", str(huge_tiny), "-d", "box:-1:1", "--strict", "-q"]) == 0


def _output_queries(m: int, output: str | None, c: np.ndarray) -> dict:
    """Each output kind's vertex set of C for the oracle (the constant is the maximum over
    the vertices): the drawn fixed c, and the linf, l1 and margin output norms."""
    eye = np.eye(m)
    kinds = {None: (output, [c]), "linf": (None, list(eye)),
             "l1": (None, [np.array((1.0,) + t) for t in product((-1.0, 1.0), repeat=m - 1)])}
    if m > 1:
        kinds["margin"] = (None, [eye[i] - eye[j] for i in range(m) for j in range(m) if i != j])
    return kinds


def test_scale_sweep_against_oracle(tmp_path):
    """The last layer times 10^k: every output kind (fixed c, linf, l1, margin output norms)
    is `optimal` at exactly oracle x 10^k (1e-6 relative); the input norm alternates between
    linf and l1 along k (both at every output kind)."""
    Ws, bs, lo, hi, output, c, _ = draw_case(2)
    kinds = _output_queries(Ws[-1].shape[0], output, c)
    for k, (norm, alpha) in zip((-12, -6, 0, 6, 12), [("linf", "inf"), ("l1", "1")] * 3):
        W2, b2 = list(Ws), list(bs)
        W2[-1], b2[-1] = Ws[-1] * 10.0 ** k, bs[-1] * 10.0 ** k
        path = save_mlp(tmp_path / f"n{k}.onnx", W2, b2, dtype=np.float64)
        for kind, (spec, cs) in kinds.items():
            v = max(lipschitz_many(W2, b2, lo, hi, queries=[(u, alpha) for u in cs]))
            res = lipc.solve(path, Domain(lo, hi), output=spec, input_norm=norm,
                             output_norm=kind)
            assert res.status == "optimal", (k, kind, norm, res)
            assert res.value == pytest.approx(v, rel=1e-6), (k, kind, norm)
            assert res.lower <= v * (1 + 1e-9) and res.upper >= v * (1 - 1e-6)


def _degenerate_net(rng):
    """A tiny net with the degeneracies of issue 15: duplicate and dead neurons, zero rows,
    weights spanning 1e+-10."""
    d, h = int(rng.integers(1, 3)), int(rng.integers(2, 5))
    W1, b1 = rng.normal(size=(h, d)), rng.normal(size=h) * 0.3
    W2, b2 = rng.normal(size=(1, h)), rng.normal(size=1)
    kind = rng.integers(5)
    if kind == 0:
        W1[1], b1[1] = W1[0], b1[0]                     # duplicate neuron
    elif kind == 1:
        W1[0], b1[0] = 0.0, -1.0                        # dead neuron
    elif kind == 2:
        W1[-1] = 0.0                                    # zero row
    elif kind == 3:
        s = 10.0 ** rng.uniform(-10, 10)
        W1, b1, W2 = W1 * s, b1 * s, W2 / s             # weights spanning 1e+-10
    width = 10.0 ** -rng.uniform(0, 12) if rng.random() < 0.3 else rng.uniform(0.1, 1)
    lo = rng.uniform(-1, 1, d)
    return [W1, W2], [b1, b2], lo, lo + width


# chunk 3, net 104 (weights 1e+9 then 1e-9, a box 0.947 wide) was `optimal` 0.15419 with
# HiGHS where the oracle gives 1.50698: big-M 7.9e8 times the 1e-9 tolerances is not small
# against the value, so such an optimum now needs a second solver's confirmation
@pytest.mark.parametrize("chunk", range(8))
def test_soundness_on_degenerate_tiny_nets(chunk, tmp_path):
    """lower <= oracle <= upper (the upper up to the solver's relative tolerance) and
    `optimal` only at the oracle's value, on 8 x 125 seeded tiny nets (1000)."""
    rng = np.random.default_rng(15_000 + chunk)
    for i in range(125):
        Ws, bs, lo, hi = _degenerate_net(rng)
        path = save_mlp(tmp_path / f"t{i}.onnx", Ws, bs, dtype=np.float64)
        want = lipschitz_many(Ws, bs, lo, hi, queries=[(np.ones(1), "inf")],
                              tol=min(1e-9, 1e-3 * float(np.min(hi - lo))))[0]
        try:
            res = lipc.solve(path, Domain(lo, hi))
        except lipc.LipcError:              # refused: never a wrong answer
            continue
        assert res.lower is None or res.lower <= want * (1 + 1e-9) + 1e-300, (i, res)
        if res.status != "contradicted" and res.upper is not None:
            assert res.upper >= want * (1 - 1e-6), (i, res)
        if res.status == "optimal":
            assert res.lower == pytest.approx(want, rel=1e-6, abs=0), (i, res)
            assert res.upper == pytest.approx(want, rel=1e-6, abs=0), (i, res)


def test_time_limit_covers_compilation():
    """--time-limit is the budget of the whole answer: bound tightening that outlives it stops
    at the deadline (keeping sound bounds), says so, and the solver still answers soundly."""
    import time
    net, dom = "examples/mlp_10_20_30_20_2.onnx", "linf:examples/x0_10.npy:0.2"
    t0 = time.perf_counter()
    res = lipc.solve(net, dom, output="0-1", options=lipc.SolveOptions(time_limit=0.01))
    assert time.perf_counter() - t0 < 30
    assert "bound tightening stopped at the time limit" in res.message
    assert res.lower is None or res.upper is None or res.lower <= res.upper


@pytest.mark.parametrize("norm,alpha", [("linf", "inf"), ("l1", "1")])
def test_a_region_1e_12_thin_is_optimal_at_the_oracle(norm, alpha, tmp_path):
    """A box 1e-12 thin along one coordinate: the witness's deepest point was found in x, where
    every ball is capped at 5e-13 (below the LP's tolerance), so the point left its region and
    the l1 query stayed `unverified` [0.1333, 0.1357] with every solver agreeing on 0.1357."""
    Ws, bs, lo, hi, output, c, _ = draw_case(2)
    hi = hi.copy()
    hi[0] = lo[0] + 1e-12
    want = lipschitz_many(Ws, bs, lo, hi, queries=[(c, alpha)], tol=1e-15)[0]
    path = save_mlp(tmp_path / "n.onnx", Ws, bs, dtype=np.float64)
    res = lipc.solve(path, Domain(lo, hi), output=output, input_norm=norm)
    assert res.status == "optimal", res.message
    assert res.value == pytest.approx(want, rel=1e-6)
