"""lipc solve against the independent brute-force oracle on random small networks.

Each case draws a network (2-6 inputs, 1-3 hidden layers of width <= 12, 1-3 outputs), an ONNX
spelling, a domain and an output functional, then checks both input norms against the region
enumeration of tests/oracle.py to 1e-6 relative.
"""
import numpy as np
import pytest

import lipc
from lipc.question.domain import Domain
from oracle import lipschitz_many
from lipc.frontends.onnx.writer import random_mlp, save_mlp

STYLES = ["gemm", "matmul", "gemm_t"]


def draw_case(seed: int):
    rng = np.random.default_rng(1000 + seed)
    d = int(rng.integers(2, 7))
    depth = int(rng.integers(1, 4))
    widths = [int(rng.integers(3, 13)) for _ in range(depth)]
    m = int(rng.integers(1, 4))
    Ws, bs = random_mlp(rng, [d] + widths + [m])
    center = rng.uniform(0, 1, d)
    radius = rng.uniform(0.05, 0.6)
    lo, hi = center - radius, center + radius
    if m == 1:
        output, c = None, np.ones(1)
    elif rng.random() < 0.5:
        i, j = rng.choice(m, 2, replace=False)
        output, c = f"{i}-{j}", np.eye(m)[i] - np.eye(m)[j]
    else:
        i = int(rng.integers(m))
        output, c = str(i), np.eye(m)[i]
    return Ws, bs, lo, hi, output, c, STYLES[seed % len(STYLES)]


@pytest.mark.parametrize("seed", range(32))
def test_solve_matches_bruteforce(seed, tmp_path):
    Ws, bs, lo, hi, output, c, style = draw_case(seed)
    path = save_mlp(tmp_path / "net.onnx", Ws, bs, style=style)
    expected = lipschitz_many(Ws, bs, lo, hi, queries=[(c, "inf"), (c, "1")])
    net = lipc.load(path)
    for norm, want in zip(["linf", "l1"], expected):
        res = lipc.solve(net, Domain(lo, hi), output=output, input_norm=norm)
        assert res.status == "optimal", res.message
        assert res.value == pytest.approx(want, rel=1e-6, abs=1e-12), (norm, res)
        assert res.lower <= res.upper * (1 + 1e-9)
        # the witness point is inside the domain and its gradient reproduces the value
        x = np.array(res.witness.x)
        assert np.all(x >= lo) and np.all(x <= hi)
