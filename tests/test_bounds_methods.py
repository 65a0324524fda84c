"""Bound methods beyond interval arithmetic (symbolic, lp, mip, auto): sound, never looser than
interval arithmetic, never more binaries, and the LP bounds are verified from duals."""
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lipc
from ir_checks import assert_bounds_contain
from lipc.bounds.lp import IncrementalLP, infer_mip
from lipc.bounds.symbolic import backsubstitute
from lipc.compiler.pipeline import CompileOptions
from lipc.question.domain import Domain
from lipc.errors import LipcError
from lipc.frontends.onnx.writer import random_mlp, save_mlp

METHODS = ["symbolic", "lp", "auto"]


def make(seed, tmp_path, sizes=None, radius=None):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 6))
    sizes = sizes or [d] + [int(rng.integers(3, 10)) for _ in range(int(rng.integers(1, 4)))] + [2]
    Ws, bs = random_mlp(rng, sizes)
    path = save_mlp(tmp_path / f"n{seed}.onnx", Ws, bs)
    center, r = rng.uniform(-1, 1, sizes[0]), radius or rng.uniform(0.05, 1.0)
    return lipc.load(path), Domain(center - r, center + r), rng


def _problem(net, dom, norm, bounds, passes=False):
    return lipc.problem(net, dom, "0-1", norm, CompileOptions(bounds=bounds, passes=passes))


def assert_sound(p, rng, n=400):
    X = rng.uniform(p.domain.lo, p.domain.hi, (n, p.domain.dim))
    assert_bounds_contain(p, np.vstack([X, p.domain.lo, p.domain.hi]))


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), norm=st.sampled_from(["linf", "l1"]),
       method=st.sampled_from(METHODS))
def test_bounds_are_sound_and_inside_interval(tmp_path_factory, seed, norm, method):
    net, dom, rng = make(seed, tmp_path_factory.mktemp("s"))
    ref = _problem(net, dom, norm, "interval")
    p = _problem(net, dom, norm, method)
    assert set(p.graph.nodes()) == set(ref.graph.nodes())
    assert_sound(p, rng)
    for name in p.graph.nodes():
        b, r = p.graph.bounds[name], ref.graph.bounds[name]
        assert np.all(b.lo >= r.lo) and np.all(b.hi <= r.hi), name
    assert sum(p.stats()["unstable"].values()) <= sum(ref.stats()["unstable"].values())


def test_fewer_or_equal_binaries(tmp_path):
    net, dom, _ = make(7, tmp_path, [6, 16, 16, 2], radius=0.15)
    counts = [lipc.compile(net, dom, output="0-1", input_norm="linf",
                           compile_options=CompileOptions(bounds=m))[1]
              .mip.meta["binaries"] for m in ["interval", "symbolic", "lp"]]
    assert counts[0] >= counts[1] >= counts[2]
    assert counts[0] > counts[2]          # this instance: a strict improvement


def test_symbolic_backsubstitution_of_an_affine_chain_is_exact(tmp_path):
    """Through affine nodes only (first layer) the linear bound is the exact range."""
    net, dom, _ = make(3, tmp_path, [4, 5, 2])
    p = _problem(net, dom, "linf", "interval")
    z = next(n for n in p.graph.topo() if p.graph.stage(n) == "forward"
             and type(p.graph.op(n)).__name__ == "Affine")
    lo, hi = backsubstitute(p.graph, z, np.arange(5), p.graph.bounds, p.graph.topo())
    b = p.graph.bounds[z]
    assert np.allclose(lo, b.lo, rtol=1e-12, atol=1e-12) and np.all(lo <= b.lo + 1e-15)
    assert np.allclose(hi, b.hi, rtol=1e-12, atol=1e-12)


def test_lp_dual_bound_is_valid_for_any_duals(tmp_path):
    """The verified bound holds for perturbed (even random) duals: it never exceeds the LP
    optimum, and for the solver's duals it is within rounding of it."""
    net, dom, rng = make(11, tmp_path, [3, 6, 6, 2])
    p = _problem(net, dom, "linf", "symbolic")
    keep = p.graph.needed(p.objective)
    lp = IncrementalLP(p.graph, keep)
    for n in p.graph.topo():
        if n in keep:
            lp.lower(n)
    col = int(np.flatnonzero(~lp.integer)[-1])
    for sign in (1.0, -1.0):
        v = lp.lp_lower(col, sign)
        opt = lp.h.getInfo().objective_function_value
        assert v <= opt + 1e-12 and v >= opt - 1e-9 * (1 + abs(opt))
        y = np.asarray(lp.h.getSolution().row_dual)
        for _ in range(5):
            assert lp._dual_bound(col, sign, y + rng.normal(0, 0.1, y.size)) <= opt + 1e-12


def test_mip_bounds_within_budget_are_sound(tmp_path):
    net, dom, rng = make(5, tmp_path, [4, 10, 10, 2])
    p = _problem(net, dom, "linf", "lp")
    before = sum(p.stats()["unstable"].values())
    infer_mip(p.graph, budget=3.0, per_entry=0.3)
    assert_sound(p, rng)
    assert sum(p.stats()["unstable"].values()) <= before


def test_missing_highspy_gives_a_clear_error_and_auto_falls_back(tmp_path, monkeypatch):
    net, dom, _ = make(2, tmp_path, [3, 5, 2])
    monkeypatch.setitem(sys.modules, "highspy", None)
    with pytest.raises(LipcError, match="highspy"):
        lipc.problem(net, dom, "0-1", "linf", CompileOptions(bounds="lp"))
    p = lipc.problem(net, dom, "0-1", "linf", CompileOptions(bounds="auto"))
    assert all(b.source in ("interval", "symbolic", "domain") for b in p.graph.bounds.values())


def test_auto_lp_work_budget_is_deterministic_and_sound(tmp_path, monkeypatch):
    """Past its work budget ``auto`` keeps the symbolic bounds of the remaining entries: sound,
    between symbolic and full LP, and the same bytes on every compile (no wall clock)."""
    from lipc.bounds import lp as bounds_lp
    from lipc.emit import to_text
    net, dom, rng = make(15, tmp_path, sizes=[4, 16, 16, 16, 2], radius=1.0)
    monkeypatch.setattr(bounds_lp, "AUTO_LP_WORK", 1e5)          # about half of what lp needs
    p = _problem(net, dom, "linf", "auto")
    assert_sound(p, rng)
    texts = {to_text(lipc.api.compile(net, dom, output="0-1", input_norm="linf",
                                      compile_options=CompileOptions(bounds="auto"))[1].mip, "mps")
             for _ in range(2)}
    assert len(texts) == 1
    n_bin = {b: lipc.api.compile(net, dom, output="0-1", input_norm="linf",
                                 compile_options=CompileOptions(
        bounds=b))[1].mip.meta["binaries"] for b in ("symbolic", "auto", "lp")}
    assert n_bin["lp"] < n_bin["auto"] < n_bin["symbolic"]
