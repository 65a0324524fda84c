"""Published exact Lipschitz constants of the LipBaB networks (tests/data/lipbab_nets/).

p = inf: ||J||_{inf->inf} = max_i ||grad f_i||_1, the maximum over outputs of lipc's scalar value
with c = e_i and input norm linf.  p = 1: ||J||_{1->1} = max over c in [-1,1]^m of ||J^T c||_inf,
attained at a vertex of the box (the objective is convex in c), i.e. the maximum of lipc's scalar
values with input norm l1 over sign vectors c (c and -c give the same value).
"""
import itertools

import numpy as np
import pytest

import lipc
from conftest import LIPBAB_NETS
from lipc.frontends.onnx.writer import save_mlp
from oracle import lipschitz_many

NETS = {   # name: (box lo, box hi, published p=inf, published p=1)
    "iris_4_5_5_3": (0.0, 1.0, 12.605085581416922, 5.958048912394726),
    "sdnet_10_15_10_3": (0.0, 0.1, 16.274810805318676, 10.41286850374477),
    "sdnet_10_20_15_10_3": (0.0, 0.1, 72.28569774866806, 48.04897158493324),
    "sdnet_10_30_30_30_3": (0.0, 0.1, 39.11036425646691, 19.369311332018757),
}


def load(name):
    z = np.load(LIPBAB_NETS / f"{name}.npz")
    L = sum(k.startswith("W") for k in z.files)
    return [z[f"W{i}"] for i in range(1, L + 1)], [z[f"b{i}"] for i in range(1, L + 1)]


@pytest.fixture(params=list(NETS))
def lipbab(request, tmp_path):
    name = request.param
    Ws, bs = load(name)
    return name, Ws, bs, lipc.load(save_mlp(tmp_path / f"{name}.onnx", Ws, bs, dtype=np.float64))


def test_p_inf_published_value_and_scalar_outputs(lipbab):
    name, Ws, bs, net = lipbab
    lo, hi, p_inf, _ = NETS[name]
    m = net.n_outputs
    values = []
    oracle = lipschitz_many(Ws, bs, np.full(net.n_inputs, lo), np.full(net.n_inputs, hi),
                            queries=[(np.eye(m)[i], "inf") for i in range(m)])
    for i in range(m):
        res = lipc.solve(net, f"box:{lo}:{hi}", output=str(i), input_norm="linf")
        assert res.status == "optimal"
        assert res.value == pytest.approx(oracle[i], rel=1e-6)     # every scalar output
        values.append(res.value)
    assert max(values) == pytest.approx(p_inf, rel=1e-6)


def test_p_1_published_value(lipbab):
    name, Ws, bs, net = lipbab
    lo, hi, _, p_1 = NETS[name]
    signs = [(1,) + s for s in itertools.product([1, -1], repeat=net.n_outputs - 1)]
    values = [lipc.solve(net, f"box:{lo}:{hi}", output=",".join(map(str, s)), input_norm="l1").value
              for s in signs]
    assert max(values) == pytest.approx(p_1, rel=1e-6)


@pytest.mark.parametrize("p", ["inf", "1"])
def test_vector_output_norm_reproduces_published_value(lipbab, p):
    """The same published values from one MIP over the seed set C of the output norm."""
    name, Ws, bs, net = lipbab
    lo, hi, p_inf, p_1 = NETS[name]
    norm = {"inf": "linf", "1": "l1"}[p]
    res = lipc.solve(net, f"box:{lo}:{hi}", input_norm=norm, output_norm=norm)
    assert res.status == "optimal"
    assert res.value == pytest.approx({"inf": p_inf, "1": p_1}[p], rel=1e-6)


def test_p_2_is_refused(lipbab):
    name, _, _, net = lipbab
    with pytest.raises(lipc.QueryError, match="no exact MIP"):
        lipc.solve(net, "box:0:0.1", output="0", input_norm="l2")
    with pytest.raises(lipc.QueryError, match="no exact MIP"):
        lipc.solve(net, "box:0:0.1", input_norm="linf", output_norm="l2")
