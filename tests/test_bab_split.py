"""The split scores of lipc.bab.node: deterministic, measuring what they claim, and keeping
branch and bound exact (against the brute-force oracle) on random small nets with forced
splitting."""
import functools

import numpy as np
import pytest

import lipc
import lipc.bab.driver as driver
from lipc.bab.driver import BabOptions
from lipc.bab.node import (SCORES, NodeConfig, NodeLP, bound_node, forward_unstable,
                           mccormick_gaps, node_problem)
from lipc.compiler.pipeline import lower_problem
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from oracle import enumerate_region_data


def _net(tmp_path, seed: int, hidden=(6, 6, 5)):
    rng = np.random.default_rng(seed)
    Ws, bs = random_mlp(rng, [3, *hidden, 2])
    lo, hi = -np.ones(3), np.ones(3)
    want = max(np.abs(r.jacobian.T @ np.array([1.0, -1.0])).sum()
               for r in enumerate_region_data(Ws, bs, lo, hi, None, None))
    return lipc.load(save_mlp(tmp_path / f"n{seed}.onnx", Ws, bs)), lipc.Domain(lo, hi), want


@pytest.mark.parametrize("score", list(SCORES))
def test_split_score_is_exact_against_the_oracle(tmp_path, monkeypatch, score):
    monkeypatch.setattr(driver, "NodeConfig", functools.partial(NodeConfig, score=score))
    for seed in (1, 2):
        net, dom, want = _net(tmp_path, seed)
        res = lipc.solve(net, dom, output="0-1", input_norm="linf", engine="bab",
                         bab=BabOptions(mip_binaries=2))
        assert res.stats["bab"]["nodes"] > 3                   # the score was used
        assert res.status == "optimal" and res.value == pytest.approx(want, rel=1e-6)


def test_split_scores_rank_every_unstable_neuron_deterministically(tmp_path):
    net, dom, _ = _net(tmp_path, 3)
    p = lipc.problem(net, dom, "0-1", "linf")
    args = (p.network, p.domain, p.query)
    for score in SCORES:
        ranks = []
        for _ in range(2):                                     # compiled and solved afresh
            q = node_problem(*args, (), "auto")
            ranks.append(SCORES[score](q, NodeLP(lower_problem(q))))
        assert ranks[0] == ranks[1]
        assert sorted(r[:3] for r in ranks[0]) == sorted(r[:3] for r in forward_unstable(q))
        cfg = NodeConfig(mip_binaries=0, score=score, candidates=3)
        splits = {bound_node(*args, (), (), cfg).split for _ in range(2)}
        assert len(splits) == 1 and splits.pop() in {r[1:3] for r in ranks[0][:3]}


def test_mccormick_gap_is_zero_exactly_where_the_lp_gate_is_integral(tmp_path):
    """At the root LP solution every switch y = a u with a at 0 or 1 is exact (no gap), and
    the relaxation's looseness shows as a gap at some fractional gate."""
    net, dom, _ = _net(tmp_path, 3)
    p = lipc.problem(net, dom, "0-1", "linf")
    q = node_problem(p.network, p.domain, p.query, (), "auto")
    lp = NodeLP(lower_problem(q))
    gaps = mccormick_gaps(q, lp)
    fractional = 0
    for cond, _z, j, _ in forward_unstable(q):
        a = lp.x[lp.low.values[cond].cols[j]]
        if min(a, 1 - a) < 1e-9:
            assert gaps[cond][j] < 1e-7 * max(1.0, lp.value)
        else:
            fractional += gaps[cond][j] > 1e-6
    assert fractional > 0
