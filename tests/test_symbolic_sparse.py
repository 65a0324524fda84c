"""Symbolic bounds keep a multiplier sparse while few of its entries are nonzero (a CNN's
back-substitution) and dense otherwise: both representations must give the same bounds up to
rounding, sound on sampled points, and the same Lipschitz constant as interval bounds give."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import lipc
from ir_checks import assert_bounds_contain
from lipc.bounds import symbolic
from lipc.compiler.pipeline import CompileOptions
from lipc.question.domain import Domain
from lipc.solvers import SolveOptions


def small_cnn(tmp_path, seed=0):
    """conv 1->3 (3x3, stride 1) on 1x6x6, relu, flatten, fc 48->5, relu, fc 5->2."""
    rng = np.random.default_rng(seed)
    inits = {"c": rng.normal(0, 0.4, (3, 1, 3, 3)), "cb": rng.normal(0, 0.1, 3),
             "f1": rng.normal(0, 0.2, (5, 48)), "g1": rng.normal(0, 0.1, 5),
             "f2": rng.normal(0, 0.5, (2, 5)), "g2": np.zeros(2)}
    N = helper.make_node
    nodes = [N("Conv", ["x", "c", "cb"], ["a"]), N("Relu", ["a"], ["r"]),
             N("Flatten", ["r"], ["fl"]), N("Gemm", ["fl", "f1", "g1"], ["h"], transB=1),
             N("Relu", ["h"], ["rh"]), N("Gemm", ["rh", "f2", "g2"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                       [1, 1, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v.astype(np.float32), k)
                           for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path / "cnn.onnx"
    onnx.save(m, str(path))
    return lipc.load(path)


def small_mlp(seed=1):
    rng = np.random.default_rng(seed)
    sizes = [6, 12, 12, 3]
    return lipc.from_layers([(rng.normal(0, 1 / np.sqrt(a), (b, a)), rng.normal(0, 0.1, b))
                             for a, b in zip(sizes[:-1], sizes[1:])])


def _bounds(monkeypatch, net, dom, dense_from):
    monkeypatch.setattr(symbolic, "DENSE_FROM", dense_from)
    return lipc.problem(net, dom, "0-1", "linf", CompileOptions(bounds="symbolic"))


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_sparse_and_dense_multipliers_agree_and_are_sound(tmp_path, monkeypatch, kind):
    net = small_cnn(tmp_path) if kind == "cnn" else small_mlp()
    n = 36 if kind == "cnn" else 6
    rng = np.random.default_rng(3)
    center = rng.uniform(0.2, 0.8, n)
    dom = Domain(center - 0.15, center + 0.15)
    dense = _bounds(monkeypatch, net, dom, 0.0)           # every multiplier dense
    sparse = _bounds(monkeypatch, net, dom, 1.0)          # every multiplier sparse
    interval = lipc.problem(net, dom, "0-1", "linf", CompileOptions(bounds="interval"))
    tightened = 0
    for name in dense.graph.nodes():
        d, s, i = dense.graph.bounds[name], sparse.graph.bounds[name], interval.graph.bounds[name]
        scale = max(np.abs(i.lo).max(), np.abs(i.hi).max(), 1e-300)
        # the same sums in another order: equal up to rounding of the problem's scale
        np.testing.assert_allclose(s.lo, d.lo, rtol=0, atol=1e-12 * scale, err_msg=name)
        np.testing.assert_allclose(s.hi, d.hi, rtol=0, atol=1e-12 * scale, err_msg=name)
        assert np.all(s.lo >= i.lo) and np.all(s.hi <= i.hi), name
        tightened += int(np.sum(s.lo > i.lo) + np.sum(s.hi < i.hi))
    assert tightened > 0                                  # the back-substitution did something
    X = rng.uniform(dom.lo, dom.hi, (300, n))
    assert_bounds_contain(sparse, np.vstack([X, dom.lo, dom.hi]))


def test_sparse_multipliers_keep_the_constant(tmp_path, monkeypatch):
    """The MIP built on sparse-path bounds has the optimum of the one built on interval bounds."""
    net = small_cnn(tmp_path, seed=2)
    dom = Domain(np.full(36, 0.47), np.full(36, 0.53))
    monkeypatch.setattr(symbolic, "DENSE_FROM", 1.0)
    opts = SolveOptions(solver="highs")
    values = [lipc.solve(net, dom, output="0-1", input_norm="linf", options=opts,
                         compile_options=CompileOptions(bounds=b)).value
              for b in ("symbolic", "interval")]
    assert values[0] == pytest.approx(values[1], rel=1e-6)
