"""Both formulations (lipc, paper) and every bound method give the same optimum, equal to the
brute-force oracle; the IR passes keep the graph's function; the paper model has the original's
structure."""
import numpy as np
import pytest

import lipc
from lipc.compiler.pipeline import CompileOptions
from lipc.question.domain import Domain
from lipc.core.interpret import evaluate
from lipc.core.ir import Affine, Conditional
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from oracle import lipschitz_many

VARIANTS = [("paper", "auto"), ("lipc", "interval"), ("lipc", "symbolic"), ("lipc", "lp"),
            ("lipc", "auto")]


def case(seed, tmp_path):
    rng = np.random.default_rng(500 + seed)
    d = int(rng.integers(2, 5))
    sizes = [d] + [int(rng.integers(4, 9)) for _ in range(int(rng.integers(1, 3)))] + [2]
    Ws, bs = random_mlp(rng, sizes)
    path = save_mlp(tmp_path / "n.onnx", Ws, bs, style=["gemm", "matmul"][seed % 2])
    center, r = rng.uniform(0, 1, d), rng.uniform(0.1, 0.5)
    return Ws, bs, lipc.load(path), center - r, center + r


@pytest.mark.parametrize("seed", range(6))
def test_every_formulation_and_bound_method_is_exact(seed, tmp_path):
    Ws, bs, net, lo, hi = case(seed, tmp_path)
    c = np.array([1.0, -1.0])
    want = lipschitz_many(Ws, bs, lo, hi, queries=[(c, "inf"), (c, "1")])
    for norm, w in zip(["linf", "l1"], want):
        for form, bounds in VARIANTS:
            res = lipc.solve(net, Domain(lo, hi), output="0-1", input_norm=norm,
                             compile_options=CompileOptions(bounds=bounds, formulation=form))
            assert res.status == "optimal", (form, bounds, res.message)
            assert res.value == pytest.approx(w, rel=1e-6, abs=1e-12), (norm, form, bounds)


def test_mip_bounds_give_the_same_optimum(tmp_path, monkeypatch):
    import lipc.bounds.lp as BL
    monkeypatch.setattr(BL, "MIP_BUDGET", 2.0)
    monkeypatch.setattr(BL, "MIP_ENTRY_LIMIT", 0.2)
    monkeypatch.setitem(lipc.bounds.BOUND_METHODS, "mip",
                        lambda g: BL.infer_mip(g, budget=2.0, per_entry=0.2))
    Ws, bs, net, lo, hi = case(1, tmp_path)
    want = lipschitz_many(Ws, bs, lo, hi, queries=[(np.array([1.0, -1.0]), "inf")])[0]
    res = lipc.solve(net, Domain(lo, hi), output="0-1", input_norm="linf",
                     compile_options=CompileOptions(bounds="mip"))
    assert res.status == "optimal" and res.value == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_passes_keep_the_function_and_shrink_the_model(norm, tmp_path):
    rng = np.random.default_rng(3)
    Ws, bs = random_mlp(rng, [3, 8, 8, 2])
    net = lipc.load(save_mlp(tmp_path / "n.onnx", Ws, bs))
    dom = Domain(np.full(3, 0.2), np.full(3, 0.3))
    with_p, low_p = lipc.compile(net, dom, output="0-1", input_norm=norm,
                                 compile_options=CompileOptions())
    without, low_n = lipc.compile(net, dom, output="0-1", input_norm=norm,
                                  compile_options=CompileOptions(passes=False))
    assert len(with_p.graph) <= len(without.graph)
    if norm == "linf":               # sum(|g|) absorbs the |g| node: n columns and rows fewer
        assert len(with_p.graph) < len(without.graph) and low_p.mip.n_rows < low_n.mip.n_rows
    assert low_p.mip.n_cols <= low_n.mip.n_cols and low_p.mip.nnz <= low_n.mip.nnz
    assert low_p.mip.meta["binaries"] == low_n.mip.meta["binaries"]
    X = rng.uniform(dom.lo, dom.hi, (200, 3)).T
    a = evaluate(with_p.graph, {net.input: X}, [with_p.objective])[with_p.objective]
    b = evaluate(without.graph, {net.input: X}, [without.objective])[without.objective]
    assert np.array_equal(a, b)
    with_p.graph.lint()


def test_paper_model_structure(tmp_path):
    """Columns for every quantity, free pre-activations, one binary per unstable ReLU plus one per
    sign-uncertain gradient coordinate (l1 objective) plus one per relevant coordinate (l_inf)."""
    rng = np.random.default_rng(8)
    Ws, bs = random_mlp(rng, [4, 7, 6, 2])
    net = lipc.load(save_mlp(tmp_path / "n.onnx", Ws, bs))
    dom = Domain(np.full(4, 0.1), np.full(4, 0.6))
    opts = CompileOptions(formulation="paper")
    p, low = lipc.compile(net, dom, output="0-1", input_norm="linf", compile_options=opts)
    assert p.options.bounds == "interval"
    g = p.graph
    fwd_unstable = sum(int(np.sum(g.bounds[n].lo != g.bounds[n].hi)) for n in g.nodes()
                       if isinstance(g.op(n), Conditional) and g.stage(n) == "forward")
    gb = g.bounds[p.gradient]
    sign_open = int(np.sum((gb.lo < 0) & (gb.hi > 0)))
    assert low.mip.meta["binaries"] == fwd_unstable + sign_open
    for n in g.nodes():
        if isinstance(g.op(n), Affine) and g.stage(n) == "forward" and any(
                isinstance(g.op(c), Conditional) for c in g.g.successors(n)):
            v = low.values[n]
            assert np.all(np.isinf(low.mip.lb[v.cols[v.var]]))
    p1, low1 = lipc.compile(net, dom, output="0-1", input_norm="l1", compile_options=opts)
    assert low1.mip.meta["binaries"] > fwd_unstable + sign_open      # + argmax binaries



def test_paper_objective_follows_the_query_norm(tmp_path):
    """The paper's objective gadget takes the gradient norm from the query (reaching lowering),
    not from probing the graph: an output norm keeps one gradient vector and is exact against
    the oracle's per-output maximum; a weighted input norm (no original LipMIP objective) is
    refused with a clear error."""
    rng = np.random.default_rng(11)
    Ws, bs = random_mlp(rng, [3, 6, 5, 2])
    net = lipc.load(save_mlp(tmp_path / "n.onnx", Ws, bs))
    lo, hi = np.full(3, 0.2), np.full(3, 0.7)
    opts = CompileOptions(formulation="paper")
    per_output = lipschitz_many(Ws, bs, lo, hi, queries=[(np.eye(2)[i], "inf") for i in range(2)])
    res = lipc.solve(net, Domain(lo, hi), output=None, input_norm="linf", output_norm="linf",
                     compile_options=opts)
    assert res.status == "optimal" and res.value == pytest.approx(max(per_output), rel=1e-6)
    with pytest.raises(lipc.QueryError, match="paper encodes only"):
        lipc.compile(net, Domain(lo, hi), output="0-1", input_norm="linf:1,2,3",
                     compile_options=opts)

def test_cli_formulation_and_bounds_flags(tmp_path, capsys):
    from lipc.cli.main import main
    rng = np.random.default_rng(4)
    Ws, bs = random_mlp(rng, [3, 6, 2])
    path = save_mlp(tmp_path / "n.onnx", Ws, bs)
    for extra in (["--formulation", "paper"], ["--bounds", "symbolic"], []):
        assert main(["compile", str(path), "--domain", "box:0:1", "--output", "0-1", "-o",
                     str(tmp_path / "m.mps"), "--quiet"] + extra) == 0
