"""Properties of the compiled IR and MIP, checked on random networks and random points.

* bounds are sound: at every point of the domain, every node's value lies inside its bounds;
* the MIP contains every true execution: the IR values at a point, written into the columns,
  satisfy every row and column bound, and the objective equals the gradient's dual norm there;
* the backward pass computes the gradient of <c, f>.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lipc
from lipc.solvers.cbc import parse_progress
from lipc.question.domain import Domain
from ir_checks import assert_bounds_contain, evaluate_as_compiled
from lipc.frontends.onnx.writer import random_mlp, save_mlp


def make_problem(seed, norm, tmp_path):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 6))
    sizes = [d] + [int(rng.integers(2, 9)) for _ in range(int(rng.integers(1, 4)))] + [2]
    Ws, bs = random_mlp(rng, sizes)
    path = save_mlp(tmp_path / f"n{seed}.onnx", Ws, bs, style=["gemm", "matmul"][seed % 2])
    center, r = rng.uniform(-1, 1, d), rng.uniform(0.05, 1.5)
    p, low = lipc.compile(path, Domain(center - r, center + r), output="0-1", input_norm=norm)
    return p, low, Ws, bs, rng


def points(p, rng, n=64):
    X = rng.uniform(p.domain.lo, p.domain.hi, (n, p.domain.dim))
    return np.vstack([X, p.domain.lo, p.domain.hi])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), norm=st.sampled_from(["linf", "l1"]))
def test_bounds_contain_every_execution(tmp_path_factory, seed, norm):
    p, low, Ws, bs, rng = make_problem(seed, norm, tmp_path_factory.mktemp("b"))
    assert_bounds_contain(p, points(p, rng))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), norm=st.sampled_from(["linf", "l1"]))
def test_mip_admits_every_execution(tmp_path_factory, seed, norm):
    p, low, Ws, bs, rng = make_problem(seed, norm, tmp_path_factory.mktemp("m"))
    mip = low.mip
    A = mip.dense()
    X = points(p, rng, 16)
    vals = evaluate_as_compiled(p, X)
    for k in range(X.shape[0]):
        x = np.zeros(mip.n_cols)
        for name, v in low.values.items():
            x[v.cols[v.var]] = vals[name][v.var, k]
            # constants of the value table are the node's values at every point
            assert np.allclose(vals[name][~v.var, k], v.vals[~v.var], atol=1e-9), name
        act = A @ x
        tol = 1e-9 * (1 + np.abs(act))
        assert np.all(act >= mip.row_lo - tol) and np.all(act <= mip.row_hi + tol)
        assert np.all(x >= mip.lb - 1e-9) and np.all(x <= mip.ub + 1e-9)
        assert np.all(np.abs(x[mip.integer] - np.round(x[mip.integer])) == 0)
        # objective = dual norm of the true gradient of f0 - f1 at the point
        h, J = X[k], np.eye(X.shape[1])
        for W, b in zip(Ws[:-1], bs[:-1]):
            z = W @ h + b
            J = (z > 0)[:, None] * (W @ J)
            h = np.maximum(z, 0)
        g = (Ws[-1] @ J)[0] - (Ws[-1] @ J)[1]
        want = np.sum(np.abs(g)) if norm == "linf" else np.max(np.abs(g))
        assert mip.obj @ x + mip.obj_const == pytest.approx(want, abs=1e-12)


def test_flat_mip_has_no_duplicate_entries(tmp_path):
    p, low, *_ = make_problem(3, "l1", tmp_path)
    m = low.mip
    rows = np.repeat(np.arange(m.n_rows), np.diff(m.indptr))
    pairs = set(zip(rows.tolist(), m.indices.tolist()))
    assert len(pairs) == m.nnz and np.all(m.data != 0)
    p.graph.lint()


def test_stable_neurons_cost_no_binary(tmp_path):
    """Shrinking the domain around a point leaves fewer unstable neurons, hence fewer binaries."""
    rng = np.random.default_rng(9)
    Ws, bs = random_mlp(rng, [3, 12, 12, 1])
    path = save_mlp(tmp_path / "n.onnx", Ws, bs)
    counts = [lipc.compile(path, f"linf:0.2:{r}")[1].mip.meta["binaries"] for r in (2.0, 0.3, 1e-4)]
    assert counts[0] > counts[1] > counts[2]
    p, low = lipc.compile(path, "linf:0.2:1e-4")
    assert low.mip.meta["binaries"] == 0        # tiny ball: every neuron and gradient sign decided


def test_progress_rows_are_parsed():
    assert parse_progress("         0        1      0           16367"
                          "                          16387.4    0.12%     0.020") == (0, 16367.0, 16387.4)
    assert parse_progress(" ★      25       15     17           16386 strong branching"
                          "                 16387.4    0.01%     0.030") == (25, 16386.0, 16387.4)
    assert parse_progress("Cbc0010I After 100 nodes") is None
