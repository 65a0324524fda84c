"""Every (input norm, output norm) pair and every domain kind against the brute-force oracle.

The oracle enumerates activation regions (tests/oracle.py) and gives each region's Jacobian J;
the expected value is max over regions and over the vertices c of C of the dual input norm of
J^T c, computed here in numpy, independently of lipc's norm code.
"""
import itertools
import zlib

import numpy as np
import pytest

import lipc
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from oracle import enumerate_region_data

M = 3


def dual(kind, g, w=None, V=None):
    a = np.abs(g)
    return {"linf": a.sum(), "l1": a.max(), "wlinf": (a / w).sum(), "wl1": (a / w).max(),
            "custom": None if V is None else np.abs(V @ g).max()}[kind]


def seeds(kind, m, center_class):
    I = np.eye(m)
    return {"linf": np.vstack([I, -I]),
            "l1": np.array(list(itertools.product([-1.0, 1.0], repeat=m))),
            "margin": np.array([I[i] - I[j] for i in range(m) for j in range(m) if i != j]),
            "margin:1": np.array([I[1] - I[j] for j in range(m) if j != 1]),
            "margin:center": np.array([I[center_class] - I[j] for j in range(m)
                                       if j != center_class])}[kind]


def _csv(v):
    return ",".join(repr(float(x)) for x in v)


def domain_case(kind, d, rng, tmp_path):
    """(lipc domain spec, oracle box lo/hi, oracle polytope A/b)."""
    c = rng.uniform(0.2, 0.8, d)
    if kind == "box":
        lo, hi = c - 0.3, c + rng.uniform(0.1, 0.5, d)
        return f"box:{_csv(lo)}:{_csv(hi)}", lo, hi, None, None
    if kind == "linf-clip":
        lo, hi = np.maximum(c - 0.4, 0.3), np.minimum(c + 0.4, 1.0)
        return f"linf:{_csv(c)}:0.4:0.3:1", lo, hi, None, None
    if kind == "l1":
        S = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
        return f"l1:{_csv(c)}:0.5", c - 0.5, c + 0.5, S, S @ c + 0.5
    # polytope: a random simplex-like region around c
    A = rng.normal(size=(d + 3, d))
    b = A @ c + rng.uniform(0.2, 0.5, d + 3)
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "b.npy", b)
    return f"polytope:{tmp_path / 'A.npy'},{tmp_path / 'b.npy'}:-1:2", -np.ones(d), 2 * np.ones(d), A, b


IN_NORMS = ["linf", "l1", "wlinf", "wl1", "custom"]
OUT_NORMS = ["linf", "l1", "margin", "margin:1", "margin:center"]
DOMAINS = ["box", "linf-clip", "l1", "polytope"]
CASES = list(itertools.product(IN_NORMS, OUT_NORMS, DOMAINS))


@pytest.mark.parametrize("in_norm, out_norm, dom_kind", CASES)
def test_pairs_and_domains_match_oracle(tmp_path, in_norm, out_norm, dom_kind):
    seed = zlib.crc32(f"{in_norm}/{out_norm}/{dom_kind}".encode())
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 4))
    Ws, bs = random_mlp(rng, [d, int(rng.integers(4, 9)), int(rng.integers(3, 7)), M])
    net = lipc.load(save_mlp(tmp_path / "n.onnx", Ws, bs))
    spec, lo, hi, A, b = domain_case(dom_kind, d, rng, tmp_path)
    w = rng.uniform(0.5, 2.0, d)
    V = rng.normal(size=(d + 2, d))
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "V.npy", V)
    norm_spec = {"linf": "linf", "l1": "l1", "wlinf": f"linf:{tmp_path / 'w.npy'}",
                 "wl1": f"l1:{tmp_path / 'w.npy'}", "custom": f"custom:{tmp_path / 'V.npy'}"}[in_norm]
    res = lipc.solve(net, spec, input_norm=norm_spec, output_norm=out_norm)
    assert res.status == "optimal", res.message

    dom = lipc.parse_domain(spec, d)
    center_class = int(np.argmax(Ws[-1] @ _hidden(Ws, bs, dom.center) + bs[-1]))
    regions = enumerate_region_data(Ws, bs, lo, hi, A, b)
    C = seeds(out_norm, M, center_class)
    want = max(dual(in_norm, r.jacobian.T @ c, w, V) for r in regions for c in C)
    assert res.value == pytest.approx(want, rel=1e-6)
    # the witness attains the value with a c of C at a point of the domain
    x = np.array(res.witness.x)
    assert dom.contains(x)
    assert any(np.allclose(res.witness.c, c) for c in C)


def _hidden(Ws, bs, x):
    h = x
    for W, b in zip(Ws[:-1], bs[:-1]):
        h = np.maximum(W @ h + b, 0)
    return h


def test_margin_needs_two_outputs(tmp_path):
    Ws, bs = random_mlp(np.random.default_rng(0), [2, 3, 1])
    with pytest.raises(lipc.QueryError, match="two outputs"):
        lipc.solve(save_mlp(tmp_path / "n.onnx", Ws, bs), "box:0:1", output_norm="margin")


def test_unbounded_and_empty_polytopes_are_refused(tmp_path):
    Ws, bs = random_mlp(np.random.default_rng(0), [2, 3, 1])
    net = save_mlp(tmp_path / "n.onnx", Ws, bs)
    np.save(tmp_path / "A.npy", np.array([[1.0, 0.0]]))
    np.save(tmp_path / "b.npy", np.array([1.0]))
    with pytest.raises(lipc.DomainError, match="unbounded"):
        lipc.solve(net, f"polytope:{tmp_path / 'A.npy'},{tmp_path / 'b.npy'}")
    np.save(tmp_path / "A.npy", np.array([[1.0, 0.0], [-1.0, 0.0]]))
    np.save(tmp_path / "b.npy", np.array([0.0, -1.0]))          # x0 <= 0 and x0 >= 1
    with pytest.raises(lipc.DomainError, match="empty"):
        lipc.solve(net, f"polytope:{tmp_path / 'A.npy'},{tmp_path / 'b.npy'}:-1:2")
    np.save(tmp_path / "b.npy", np.array([0.5, -0.5]))          # x0 = 0.5: no interior
    with pytest.raises(lipc.DomainError, match="interior"):
        lipc.solve(net, f"polytope:{tmp_path / 'A.npy'},{tmp_path / 'b.npy'}:-1:2")
