"""What lipc programs mean: the IR built from a program computes what the program's numpy
reference evaluator computes; known answers for abs/max; the ONNX → text → IR round trip on
every example network; long programs; the grammar ships inside the package."""
import importlib.resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lipc
from lipc.question.domain import Domain
from lipc.api import solve_query
from lipc.frontends.dsl import build, to_dsl
from lipc.core.interpret import evaluate
from lipc.core.ir import Affine, Conditional, Switch


def ir_values(net, X):
    return evaluate(net.graph, {net.input: X.T}, [net.output])[net.output].T


def assert_ir_matches_reference(net, lo=-2.0, hi=2.0, n=64, seed=0):
    X = np.random.default_rng(seed).uniform(lo, hi, (n, net.n_inputs))
    np.testing.assert_allclose(ir_values(net, X), net.reference(X), rtol=0, atol=1e-12)


KITCHEN = """
input x[3] in box(-1, 1)
W = [[1, -2, 0.5], [0.3, 0.2, -1]]
V = [[1, 0], [0, 2], [-1, 1]]
a = W @ x + [0.1, -0.2]
b = x @ V - 2 * a / 4
c = concat(a, relu(x[0:2]), 2 * x[2], x[-1], [1.5])
d = abs(c) - max(c) + min(a[0], x[1]) + max(a, [0, 0.5])[1]
e = [x[2], relu(-x[0]), d[3]] + W[0] * x - x[::2][1]
f = sum(e) + min(b) + abs(x)[[2, 0]][1] - (+x[1]) * -3
output concat(d, e, f, b)
lipschitz q1: f input l1
lipschitz q2: e output l1
maximize q3: f
minimize q4: d[0] - e[1]
"""


def test_every_construct_matches_the_reference():
    prog = build(KITCHEN, "kitchen.lipc")
    for net in [prog.network] + [q.network for q in prog.queries]:
        assert_ir_matches_reference(net)
        ops = [type(net.graph.op(n)) for n in net.graph.topo()]
        assert set(ops) <= {lipc.core.ir.Input, Affine, Conditional, Switch}
        assert all(net.graph.stage(n) == "forward" for n in net.graph.nodes())
    assert prog.network.n_outputs == 7 + 3 + 1 + 2


# random expression programs: the builder (affine forms, IR) against the numpy reference
_UNARY = ["relu({})", "abs({})", "-{}", "2.5 * {}", "{} / -4", "W @ {}", "{} @ W",
          "concat({0}[1:], {0}[0])", "{}[[2, 0, 1]]", "max({}, [0.5, -1, 0])"]
_BINARY = ["{} + {}", "{} - {}", "max({}, {})", "min({}, {})", "{} + {}[1]"]


@st.composite
def expressions(draw, depth=4):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["x", "x[::-1]", "[1, -2, 0.5]", "relu(W @ x + 1)"]))
    if draw(st.booleans()):
        return "(" + draw(st.sampled_from(_UNARY)).format(draw(expressions(depth - 1))) + ")"
    a, b = draw(expressions(depth - 1)), draw(expressions(depth - 1))
    return "(" + draw(st.sampled_from(_BINARY)).format(a, b) + ")"


@settings(max_examples=40, deadline=None)
@given(expr=expressions(), tail=st.sampled_from(["max", "min", "sum"]))
def test_random_programs_match_the_reference(expr, tail):
    text = (f"input x[3]\nW = [[1, -1, 0.5], [0.25, 2, -1], [0, -0.5, 1]]\ny = {expr}\n"
            f"output concat(y, {tail}(y))\n")
    assert_ir_matches_reference(build(text).network)


@pytest.mark.parametrize("query, value", [
    ("lipschitz abs(x[0]) + max(x) input linf", 2.0),       # gradients (2, 0), (1, 1), (-1, 1)
    ("lipschitz abs(x[0]) + max(x) input l1", 2.0),
    ("maximize abs(x[0]) + max(x)", 2.0),
    ("minimize abs(x[0]) + max(x)", 0.0),
    ("minimize min(x) - 2 * abs(x[1] - 0.5)", -4.0),
    ("maximize max(relu(x[0]), -x[1]) - abs(x[0] + x[1])", 1.0),
    ("lipschitz max(x[0], x[1]) - min(x[0], x[1]) input linf", 2.0),
    ("maximize 3 over polytope([[1, 1], [-1, 0], [0, -1]], [1, 0, 0])", 3.0),   # no input
    ("lipschitz 2 * [1] - x[0] + x[0]", 0.0),
])
def test_known_answers(query, value):
    prog = build("input x[2] in box(-1, 1)\n" + query + "\n")
    res = solve_query(prog.queries[0])
    assert res.status == "optimal" and res.value == pytest.approx(value, abs=1e-7)


def test_affine_forms_fold_into_one_node():
    prog = build("input x[2] in box(0, 1)\nW = [[1, 2], [3, 4], [5, 6]]\n"
                 "h = relu(W @ x + [1, 2, 3])\ny = [[1, 1, 1], [1, -1, 0]] @ h - 1\n"
                 "lipschitz m: 2 * (y[0] - y[1])[0] + 0\n")
    g = prog.queries[0].network.graph
    kinds = [type(g.op(n)).__name__ for n in g.topo()]
    assert kinds == ["Input", "Affine", "Conditional", "Switch", "Affine"]
    last = g.op(g.topo()[-1])
    np.testing.assert_array_equal(last.terms[0].weight, [[0.0, 4.0, 2.0]])


def test_domains_constants_and_norms(tmp_path):
    np.save(tmp_path / "w.npy", np.array([1.0, 2.0]))
    np.savez(tmp_path / "poly.npz", A=np.array([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]),
             b=np.array([1.0, 0.0, 0.0]))
    np.save(tmp_path / "c.npy", np.array([0.5, 0.5]))
    (tmp_path / "p.lipc").write_text(
        'input x[2] in linf(load("c.npy"), 0.5, lo=0.25)\n'
        'A = load("poly.npz", "A")\n'
        'lipschitz a: x[0] input linf:w.npy over l1([0, 0], 1)\n'
        'lipschitz b: x[1] input custom:V.npy over polytope(A, load("poly.npz", "b"))\n'
        'maximize c: x[0] over "linf:c.npy:0.25"\n'
        'maximize d: x[0] - 2 * x[1] over box([0, -1], [1, 0])\n')
    np.save(tmp_path / "V.npy", np.array([[1.0, 0.0], [0.0, 3.0]]))
    prog = lipc.frontends.dsl.load_program(tmp_path / "p.lipc")
    assert prog.domain.lo.tolist() == [0.25, 0.25] and prog.domain.hi.tolist() == [1.0, 1.0]
    a, b, c, d = prog.queries
    qa, qb, qc = a.question, b.question, c.question
    assert qa.domain.n_aux == 2 and qb.domain.n_rows == 3 and qc.domain.hi.tolist() == [0.75, 0.75]
    assert qa.input_norm.name == "linf:w.npy" and qb.input_norm.name == "custom:V.npy"
    values = [solve_query(q).value for q in prog.queries]
    # weighted l_inf: dual sum |g_i| / w_i = 1; custom: max_k |v_k . e_2| = 3
    assert values == pytest.approx([1.0, 3.0, 0.75, 3.0], abs=1e-9)


def test_reference_is_the_program_not_the_ir(examples):
    text = (f'f = onnx("{examples / "classifier_4_16_16_3.onnx"}")\ninput x[4]\n'
            "y = f(x)\noutput y[0] - max(y)\n")
    net = build(text).network
    onnx_net = lipc.load(examples / "classifier_4_16_16_3.onnx")
    X = np.random.default_rng(1).uniform(0, 1, (8, 4))
    Y = onnx_net.reference(X)
    np.testing.assert_allclose(net.reference(X)[:, 0], Y[:, 0] - Y.max(axis=1), atol=1e-15)
    for name in list(net.graph.g.nodes):          # breaking the IR leaves the reference intact
        net.graph.g.nodes[name]["op"] = None
    np.testing.assert_allclose(net.reference(X)[:, 0], Y[:, 0] - Y.max(axis=1), atol=1e-15)


@pytest.mark.parametrize("path", sorted(p.name for p in
                                         (Path(__file__).parents[1] / "examples").glob("*.onnx")))
def test_onnx_round_trip(examples, path):
    net = lipc.load(examples / path)
    text = to_dsl(net)
    back = build(text, "rt.lipc").network
    assert back.n_inputs == net.n_inputs and back.n_outputs == net.n_outputs
    X = np.random.default_rng(2).uniform(-1, 1, (32, net.n_inputs))
    np.testing.assert_allclose(ir_values(back, X), ir_values(net, X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(back.reference(X), net.reference(X), rtol=0, atol=1e-12)
    assert build(to_dsl(back), "rt2.lipc").network.n_outputs == net.n_outputs


@pytest.mark.parametrize("path, output", [("toy_2_8_8_1.onnx", None),
                                          ("residual_6_8_3.onnx", "0-2")])
def test_round_trip_same_mip_optimum(examples, path, output):
    if not (examples / path).exists():
        pytest.skip(f"{path} not in examples/")
    net = lipc.load(examples / path)
    back = build(to_dsl(net)).network
    dom = Domain(np.full(net.n_inputs, -0.5), np.full(net.n_inputs, 0.5))
    a = lipc.solve(net, dom, output=output, input_norm="linf")
    b = lipc.solve(back, dom, output=output, input_norm="linf")
    assert a.status == b.status == "optimal"
    assert b.value == pytest.approx(a.value, rel=1e-9)


def test_long_programs_do_not_recurse():
    n = 3000
    deep = "input x[2] in box(-1, 1)\ny = " + " + ".join(["x[0]"] * n) + " - x[1]\n"
    deep += "z = " + "(" * 200 + "x" + ")" * 200 + "\nlipschitz y[0] input l1\n"
    prog = build(deep)
    assert prog.queries[0].network.reference(np.ones((1, 2)))[0, 0] == n - 1
    chain = ["input x[2] in box(-1, 1)", "h0 = x"]
    chain += [f"h{k} = relu([[0.5, -0.5], [0.25, 1]] @ h{k - 1} + 0.1)" for k in range(1, 400)]
    chain += ["output h399[0]"]
    net = build("\n".join(chain)).network
    assert_ir_matches_reference(net, n=4)


def test_grammar_ships_in_the_package():
    res = importlib.resources.files("lipc.grammar").joinpath("lipc.lark")
    assert res.is_file() and "lipschitz" in res.read_text()
    from lipc.grammar import parser
    assert parser() is parser()
