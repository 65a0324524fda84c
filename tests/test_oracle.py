"""Tests of the independent brute-force oracle (tests/oracle.py).

The oracle must not depend on lipc; these tests check it against published values
(LipBaB reference networks), hand-computed 1-D cases, line-arrangement counting, and
gradient sampling.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import oracle  # noqa: E402
from conftest import LIPBAB_NETS  # noqa: E402

NORMS = ("1", "2", "inf")


# --------------------------------------------------------------------------- helpers
def _uniform_in_box(rng, lo, hi, n):
    return rng.uniform(lo, hi, size=(n, np.size(lo)))


def _patterns(W, b, X):
    """Activation patterns (z > 0 means active) of all rows of X, as an (n, #hidden) 0/1 array."""
    H = np.atleast_2d(X)
    cols = []
    for k in range(len(W) - 1):
        Z = H @ W[k].T + b[k]
        cols.append(Z > 0)
        H = np.maximum(Z, 0.0)
    return np.hstack(cols).astype(np.int8) if cols else np.zeros((len(H), 0), np.int8)


def _all_grad_norms(W, b, X, queries):
    """For each query (c, alpha, beta), the values at the sample points X (pattern by z > 0).

    Points sharing a pattern share the Jacobian, so each distinct pattern is evaluated once;
    the Jacobian is checked against oracle.jacobian_at at one point per pattern."""
    P = _patterns(W, b, X)
    uniq, inv = np.unique(P, axis=0, return_inverse=True)
    inv = np.asarray(inv).ravel()
    sizes = [w.shape[0] for w in W[:-1]]
    out = np.zeros((len(queries), len(uniq)))
    for u, row in enumerate(uniq):
        pat = np.split(row.astype(np.int64), np.cumsum(sizes)[:-1]) if sizes else []
        J = oracle.jacobian(W, pat)
        first = int(np.flatnonzero(inv == u)[0])
        np.testing.assert_array_equal(J, oracle.jacobian_at(W, b, X[first]))
        for i, (c, a, be) in enumerate(queries):
            if c is not None:
                out[i, u] = oracle.dual_norm(J.T @ np.asarray(c, float), a)
            else:
                out[i, u] = oracle.operator_norm(J, a, be)
    return [out[i, inv] for i in range(len(queries))]


def _pattern_key(pat):
    return tuple(tuple(int(v) for v in p) for p in pat)


# --------------------------------------------------------------------------- LipBaB networks
LIPBAB = [
    # name, box, p=2, p=1, p=inf, regions
    ("sdnet_10_15_10_3", (0.0, 0.1), 9.530716922306004, 10.41286850374477, 16.274810805318676, 12),
    ("sdnet_10_20_15_10_3", (0.0, 0.1), 40.05651016370293, 48.04897158493324, 72.28569774866806, 89),
    ("sdnet_10_30_30_30_3", (0.0, 0.1), 19.462799793264388, 19.369311332018757, 39.11036425646691, 747),
    ("iris_4_5_5_3", (0.0, 1.0), 6.771454513402937, 5.958048912394726, 12.605085581416922, 16),
]


@pytest.mark.parametrize("name,box,v2,v1,vinf,nreg", LIPBAB, ids=[r[0] for r in LIPBAB])
def test_lipbab_published_values(name, box, v2, v1, vinf, nreg):
    W, b = oracle.load_npz_net(LIPBAB_NETS / f"{name}.npz")
    t0 = time.perf_counter()
    regions, stats = oracle.enumerate_region_data(W, b, lo=box[0], hi=box[1], return_stats=True)
    elapsed = time.perf_counter() - t0
    print(f"{name}: {len(regions)} regions, {stats['lps']} LPs, {elapsed:.2f} s")
    assert len(regions) == nreg
    got = oracle.lipschitz_many(W, b, queries=[(None, p, p) for p in ("2", "1", "inf")], regions=regions)
    for g, want in zip(got, (v2, v1, vinf)):
        assert g == pytest.approx(want, rel=1e-9, abs=0)
    # patterns are distinct and every region's interior point really has its pattern
    keys = {_pattern_key(r.pattern) for r in regions}
    assert len(keys) == len(regions)
    for r in regions:
        assert r.radius > 1e-9
        assert np.all(r.point >= box[0]) and np.all(r.point <= box[1])
        assert _pattern_key(oracle.pattern_at(W, b, r.point)) == _pattern_key(r.pattern)
        np.testing.assert_array_equal(oracle.jacobian(W, r.pattern), r.jacobian)
    # p=inf via the scalar-functional route: max_i ||grad f_i||_1 = max over unit c_i
    m = W[-1].shape[0]
    per_output = oracle.lipschitz_many(W, b, queries=[(np.eye(m)[i], "inf") for i in range(m)],
                                       regions=regions)
    assert max(per_output) == pytest.approx(vinf, rel=1e-12)


def test_lipbab_iris_lipschitz_result():
    W, b = oracle.load_npz_net(LIPBAB_NETS / "iris_4_5_5_3.npz")
    res = oracle.lipschitz(W, b, lo=0.0, hi=1.0, alpha="2", beta="2")
    assert res.value == pytest.approx(6.771454513402937, rel=1e-9)
    assert res.n_regions == 16
    # the best point is inside the domain and strictly inside the maximising region
    assert np.all(res.best_point >= 0) and np.all(res.best_point <= 1)
    assert _pattern_key(oracle.pattern_at(W, b, res.best_point)) == _pattern_key(res.best_pattern)
    J = oracle.jacobian_at(W, b, res.best_point)
    assert oracle.operator_norm(J, 2, 2) == pytest.approx(res.value, rel=1e-12)


# --------------------------------------------------------------------------- 1-D, by hand
def _net_1d():
    # f(x) = 3 relu(x) - relu(2x - 1): slope 0 on x<0, 3 on (0, 1/2), 1 on x>1/2
    W = [np.array([[1.0], [2.0]]), np.array([[3.0, -1.0]])]
    b = [np.array([0.0, -1.0]), np.array([0.0])]
    return W, b


@pytest.mark.parametrize("lo,hi,value,nreg", [
    (-1.0, 1.0, 3.0, 3),
    (-1.0, 0.25, 3.0, 2),
    (-2.0, -1.0, 0.0, 1),
    (0.6, 1.0, 1.0, 1),
    (0.5, 1.0, 1.0, 1),     # domain touches the kink at 1/2 only on its boundary
    (-1.0, 0.0, 0.0, 1),    # ... and at 0
    (0.0, 0.5, 3.0, 1),
])
def test_1d_by_hand(lo, hi, value, nreg):
    W, b = _net_1d()
    for alpha in NORMS:
        for beta in NORMS:
            res = oracle.lipschitz(W, b, lo=lo, hi=hi, alpha=alpha, beta=beta)
            assert res.value == pytest.approx(value, abs=1e-15)
            assert res.n_regions == nreg
        res = oracle.lipschitz(W, b, lo=lo, hi=hi, c=[-2.0], alpha=alpha)
        assert res.value == pytest.approx(2 * value, abs=1e-15)
    # same domain as a polytope (no box)
    res = oracle.lipschitz(W, b, A=[[1.0], [-1.0]], b=[hi, -lo], alpha="inf", beta="inf")
    assert res.value == pytest.approx(value, abs=1e-15) and res.n_regions == nreg


def test_1d_deep_by_hand():
    # g(x) = relu(relu(x) - 0.5) - 4 relu(relu(-x - 1)):
    # x < -1: 0 - 4(-x - 1) = 4x + 4 (slope 4); -1 < x < 0.5: 0; x > 0.5: x - 0.5 (slope 1)
    W = [np.array([[1.0], [-1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, -4.0]])]
    b = [np.array([0.0, -1.0]), np.array([-0.5, 0.0]), np.array([0.0])]
    assert oracle.lipschitz(W, b, lo=-2, hi=2, alpha=1, beta=1).value == pytest.approx(4.0)
    assert oracle.lipschitz(W, b, lo=-0.9, hi=2, alpha=1, beta=1).value == pytest.approx(1.0)
    assert oracle.lipschitz(W, b, lo=-0.9, hi=0.4, alpha=1, beta=1).value == 0.0
    # regions (distinct patterns with interior): x<-1, (-1,0), (0,0.5), (0.5, 2)
    assert len(oracle.enumerate_regions(W, b, lo=-2, hi=2)) == 4


def test_degenerate_and_linear_nets():
    # zero weight row: sign of the bias decides; either way same function
    W = [np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[5.0, 2.0]])]
    for bias0, expect_p0 in ((0.3, 1), (-0.3, 0), (0.0, 0)):
        b = [np.array([bias0, 0.0]), np.array([0.0])]
        pats = oracle.enumerate_regions(W, b, lo=-1, hi=1)
        assert len(pats) == 2
        assert all(int(p[0][0]) == expect_p0 for p in pats)
        assert oracle.lipschitz(W, b, lo=-1, hi=1, alpha="inf", beta="inf").value == pytest.approx(4.0)
    # no hidden layer
    W = [np.array([[1.0, -2.0], [3.0, 0.5]])]
    b = [np.zeros(2)]
    res = oracle.lipschitz(W, b, lo=0, hi=1, alpha="inf", beta="inf")
    assert res.value == pytest.approx(3.5) and res.n_regions == 1 and res.best_pattern == []


def test_domain_errors():
    W, b = _net_1d()
    with pytest.raises(ValueError):
        oracle.lipschitz(W, b, alpha=1, beta=1)                     # no domain
    with pytest.raises(ValueError):
        oracle.lipschitz(W, b, A=[[1.0]], b=[1.0], alpha=1, beta=1)  # unbounded
    with pytest.raises(ValueError):
        oracle.lipschitz(W, b, lo=0.5, hi=0.5, alpha=1, beta=1)     # empty interior
    with pytest.raises(ValueError):
        oracle.lipschitz(W, b, lo=0, hi=1, alpha=1)                 # beta missing


# --------------------------------------------------------------------------- counting
@pytest.mark.parametrize("n,seed", [(3, 0), (6, 1), (9, 2)])
def test_line_arrangement_count(n, seed):
    """One hidden layer in 2-D: n lines in general position, all crossings inside the box,
    give 1 + n + n(n-1)/2 cells."""
    rng = np.random.default_rng(seed)
    ang = rng.uniform(0, np.pi, n)
    normals = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    offs = rng.uniform(-1, 1, n)
    W = [normals, rng.normal(size=(1, n))]
    b = [offs, np.zeros(1)]
    # all pairwise intersections must be inside the box
    R = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            p = np.linalg.solve(normals[[i, j]], -offs[[i, j]])
            R = max(R, np.max(np.abs(p)))
    box = R + 1.0
    pats = oracle.enumerate_regions(W, b, lo=-box, hi=box)
    assert len(pats) == 1 + n + n * (n - 1) // 2


def test_box_as_polytope_and_search_variants_agree():
    rng = np.random.default_rng(7)
    W, b = oracle.random_net(rng, [3, 8, 8, 2])
    lo, hi = np.array([-1.0, -0.5, 0.0]), np.array([1.0, 0.5, 2.0])
    ref = {_pattern_key(p) for p in oracle.enumerate_regions(W, b, lo=lo, hi=hi)}
    A = np.vstack([np.eye(3), -np.eye(3)]) * np.array([[2.0], [1.0], [3.0], [1.0], [0.5], [1.0]])
    bb = np.concatenate([hi, -lo]) * np.array([2.0, 1.0, 3.0, 1.0, 0.5, 1.0])
    poly = {_pattern_key(p) for p in oracle.enumerate_regions(W, b, A=A, b=bb)}
    assert poly == ref
    for kw in (dict(n_samples=0), dict(layer_precheck=False), dict(n_samples=0, layer_precheck=False),
               dict(use_net_bounds=False), dict(n_samples=50000, seed=3), dict(fast=False)):
        assert {_pattern_key(p) for p in oracle.enumerate_regions(W, b, lo=lo, hi=hi, **kw)} == ref


@pytest.mark.parametrize("seed", range(8))
def test_accelerated_search_matches_plain_lp_search(seed):
    """The shortcuts (bounds, balls, samples, rays, one-row Lagrangian, layer pre-check) never
    change the result: same patterns as one Chebyshev LP per neuron side (fast=False)."""
    rng = np.random.default_rng(300 + seed)
    d = int(rng.integers(1, 5))
    sizes = [d] + [int(rng.integers(2, 8)) for _ in range(int(rng.integers(1, 4)))] + [2]
    W, b = oracle.random_net(rng, sizes)
    if seed % 3 == 0:
        W[0][0] = 0.0  # a dead (zero-row) neuron
    c = rng.uniform(-1, 1, d)
    r = rng.uniform(0.2, 1.5)
    kw = dict(lo=c - r, hi=c + r)
    if seed % 2 == 1:  # polytope domain: a rotated box with one extra cut, alone or with the box
        Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        A = np.vstack([Q, -Q, rng.normal(size=(1, d))])
        bb = A @ c + np.concatenate([np.full(2 * d, 0.8 * r), [0.3 * r * np.linalg.norm(A[-1])]])
        kw = dict(A=A, b=bb) if seed % 4 == 1 else dict(kw, A=A, b=bb)
    fast = {_pattern_key(p) for p in oracle.enumerate_regions(W, b, **kw)}
    slow = {_pattern_key(p) for p in oracle.enumerate_regions(W, b, fast=False, **kw)}
    assert fast == slow


# --------------------------------------------------------------------------- sampling sanity
SAMPLING_NETS = [
    ([2, 8, 8, 1], 11, (-1.0, 1.0)),
    ([2, 12, 6, 2], 12, (0.0, 2.0)),
    ([3, 10, 10, 3], 13, (-1.0, 1.0)),
    ([4, 8, 8, 8, 2], 14, (-0.5, 0.5)),
    ([4, 16, 2], 15, (0.0, 1.0)),
]


def _queries(m):
    qs = [(None, a, be) for a in NORMS for be in NORMS]
    qs += [(np.eye(m)[0], a, None) for a in NORMS]
    if m > 1:
        c = np.zeros(m)
        c[0], c[1] = 1.0, -1.0
        qs += [(c, a, None) for a in NORMS]
    return qs


@pytest.mark.parametrize("sizes,seed,box", SAMPLING_NETS, ids=[str(s[0]) for s in SAMPLING_NETS])
def test_against_sampling(sizes, seed, box):
    rng = np.random.default_rng(seed)
    W, b = oracle.random_net(rng, sizes)
    d, m = sizes[0], sizes[-1]
    lo, hi = np.full(d, box[0]), np.full(d, box[1])
    regions = oracle.enumerate_region_data(W, b, lo=lo, hi=hi)
    keys = {_pattern_key(r.pattern) for r in regions}
    assert len(keys) == len(regions)
    qs = _queries(m)
    exact = oracle.lipschitz_many(W, b, queries=qs, regions=regions)

    X = _uniform_in_box(rng, lo, hi, 2000)
    # completeness: every sampled pattern is among the enumerated regions
    P = _patterns(W, b, X)
    flat_keys = {tuple(np.concatenate(k)) for k in keys} if len(W) > 1 else {()}
    assert all(tuple(int(v) for v in row) in flat_keys for row in np.unique(P, axis=0))
    # soundness: each region's point is in the box and has the region's pattern
    for r in regions:
        assert np.all(r.point >= lo) and np.all(r.point <= hi)
        assert _pattern_key(oracle.pattern_at(W, b, r.point)) == _pattern_key(r.pattern)
    sampled = _all_grad_norms(W, b, X, qs)
    for q, e, s in zip(qs, exact, sampled):
        assert e >= s.max() - 1e-12, q
    # every region's value is attained at its interior point => exact equals the max over them
    pts = np.array([r.point for r in regions])
    at_pts = _all_grad_norms(W, b, pts, qs)
    for e, s in zip(exact, at_pts):
        assert e == pytest.approx(s.max(), rel=1e-12)

    if d == 2:
        # dense grid: the sampled maximum is within a few % of the exact value
        g = np.linspace(box[0], box[1], 301)
        G = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
        G = G[np.random.default_rng(0).permutation(len(G))[:40000]]
        dense = _all_grad_norms(W, b, G, [(None, "inf", "inf"), (None, "2", "2"), (None, "1", "1")])
        ex = oracle.lipschitz_many(W, b, queries=[(None, "inf", "inf"), (None, "2", "2"),
                                                  (None, "1", "1")], regions=regions)
        for e, s in zip(ex, dense):
            assert s.max() <= e + 1e-12
            assert s.max() >= 0.97 * e


def test_polytope_domain_against_sampling():
    """Triangle domain in 2-D (no box): sampled gradients inside it never exceed the oracle,
    and the oracle's point lies in the triangle."""
    rng = np.random.default_rng(21)
    W, b = oracle.random_net(rng, [2, 10, 10, 1])
    A = np.array([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]])
    bb = np.array([0.0, 0.0, 1.0])
    res = oracle.lipschitz(W, b, A=A, b=bb, alpha="inf", beta="inf")
    assert np.all(A @ res.best_point <= bb + 1e-12)
    X = rng.uniform(0, 1, size=(20000, 2))
    X = X[X.sum(axis=1) < 1][:3000]
    s = _all_grad_norms(W, b, X, [(None, "inf", "inf")])[0]
    assert s.max() <= res.value + 1e-12
    assert s.max() >= 0.97 * res.value
    # restricting to the triangle never increases the constant vs. the bounding box
    box = oracle.lipschitz(W, b, lo=0, hi=1, alpha="inf", beta="inf")
    assert res.value <= box.value + 1e-15 and res.n_regions <= box.n_regions


# --------------------------------------------------------------------------- Jacobian / norms
def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(5)
    W, b = oracle.random_net(rng, [3, 7, 5, 2])
    checked = 0
    for x in rng.uniform(-1, 1, size=(200, 3)):
        # skip points near a kink
        h = x
        near = False
        for k in range(len(W) - 1):
            z = W[k] @ h + b[k]
            near |= np.min(np.abs(z)) < 1e-3
            h = np.maximum(z, 0)
        if near:
            continue
        eps = 1e-6
        fd = np.stack([(oracle.forward(W, b, x + eps * e) - oracle.forward(W, b, x - eps * e)) / (2 * eps)
                       for e in np.eye(3)], axis=1)
        np.testing.assert_allclose(oracle.jacobian_at(W, b, x), fd, atol=1e-7)
        checked += 1
    assert checked > 100


def _vertex_norm(J, alpha, beta):
    """Exact for alpha in {1, inf}: a convex function is maximised at a vertex of the ball."""
    m, d = J.shape
    if alpha == "1":
        V = np.vstack([np.eye(d), -np.eye(d)])
    else:
        V = np.array(np.meshgrid(*[[-1.0, 1.0]] * d)).reshape(d, -1).T
    return max(oracle.norm(J @ v, beta) for v in V)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1), (3, 4), (4, 3), (6, 6), (2, 9)])
def test_operator_norms(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(5):
        J = rng.normal(size=shape)
        for a in ("1", "inf"):
            for be in NORMS:
                assert oracle.operator_norm(J, a, be) == pytest.approx(_vertex_norm(J, a, be), rel=1e-12)
        # alpha = 2: random unit vectors give lower bounds; closed forms / duality for the rest
        U = rng.normal(size=(20000, shape[1]))
        U /= np.linalg.norm(U, axis=1, keepdims=True)
        for be in NORMS:
            v = oracle.operator_norm(J, "2", be)
            Y = U @ J.T
            lb = {"1": np.abs(Y).sum(axis=1), "2": np.linalg.norm(Y, axis=1),
                  "inf": np.abs(Y).max(axis=1)}[be].max()
            assert lb <= v * (1 + 1e-12)
            assert lb >= 0.9 * v
        # duality ||J||_{a->b} = ||J^T||_{b*->a*}
        for a in NORMS:
            for be in NORMS:
                assert oracle.operator_norm(J, a, be) == pytest.approx(
                    oracle.operator_norm(J.T, oracle._DUAL[be], oracle._DUAL[a]), rel=1e-12)
    assert oracle.operator_norm(np.array([[3.0, 4.0]]), 2, 2) == pytest.approx(5.0)
    assert oracle.operator_norm(np.array([[3.0, -4.0]]), "inf", 1) == pytest.approx(7.0)
    assert oracle.operator_norm(np.array([[3.0, -4.0]]), 1, "inf") == pytest.approx(4.0)


def test_norm_names_and_limits():
    v = np.array([3.0, -4.0])
    assert oracle.dual_norm(v, "inf") == 7.0 and oracle.dual_norm(v, np.inf) == 7.0
    assert oracle.dual_norm(v, "l1") == 4.0 and oracle.dual_norm(v, 1) == 4.0
    assert oracle.dual_norm(v, 2) == 5.0
    with pytest.raises(ValueError):
        oracle.dual_norm(v, 3)
    with pytest.raises(ValueError):
        oracle.operator_norm(np.ones((2, 21)), "inf", "2")


def test_random_net_init():
    rng = np.random.default_rng(0)
    W, b = oracle.random_net(rng, [5, 100, 3])
    assert [w.shape for w in W] == [(100, 5), (3, 100)]
    assert all(w.dtype == np.float64 for w in W + b)
    assert np.max(np.abs(W[0])) <= 1 / np.sqrt(5) and np.max(np.abs(b[1])) <= 1 / np.sqrt(100)
    assert np.max(np.abs(W[0])) > 0.9 / np.sqrt(5)
