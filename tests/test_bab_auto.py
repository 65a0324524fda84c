"""``--engine auto`` (lipc.bab.auto): whichever engine it goes on with, the value is the oracle's.

The probes are made short and the MIP's node budget tiny so that neither engine proves the
query within its probe; the comparison of the probes' bounds is then forced each way, so both
continuations run: branch and bound from its probe's state kept in memory, and the MIP from the
start.  The network's outputs are scaled by 1e6, so a witness unscaled twice (the probe's state
shares its witness with the continuation) would show.
"""
from dataclasses import replace

import numpy as np
import pytest

import lipc
import lipc.bab.auto as auto
from lipc.bab.driver import BabOptions
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from oracle import enumerate_region_data


def _scaled_case(tmp_path):
    rng = np.random.default_rng(7)
    Ws, bs = random_mlp(rng, [3, 8, 8, 6, 2])
    Ws[-1] = Ws[-1] * 1e6
    bs[-1] = bs[-1] * 1e6
    lo, hi = np.full(3, -1.0), np.full(3, 1.0)
    c = np.array([1.0, -1.0])
    want = max(np.abs(r.jacobian.T @ c).sum() for r in enumerate_region_data(Ws, bs, lo, hi))
    return save_mlp(tmp_path / "n.onnx", Ws, bs), lipc.Domain(lo, hi), want


@pytest.mark.parametrize("prefer", ["bab", "mip"])
def test_auto_goes_on_with_the_engine_whose_probe_bound_is_lower(tmp_path, monkeypatch, prefer):
    path, dom, want = _scaled_case(tmp_path)
    monkeypatch.setattr(auto, "probe_seconds", lambda limit: 0.05)
    monkeypatch.setattr(auto, "_upper", lambda res: 0.0 if res.solver.startswith("bab") ==
                        (prefer == "bab") else 1.0)
    solve_compiled, probes = auto.settle.solve_compiled, []

    def mip_probe_cut_short(p, low, opts, primal=None):       # the MIP probe: one node
        probes.append(opts)
        return solve_compiled(p, low, replace(opts, node_limit=1) if len(probes) == 1 else opts,
                              primal)

    monkeypatch.setattr(auto.settle, "solve_compiled", mip_probe_cut_short)
    res = lipc.solve(path, dom, output="0-1", engine="auto", bab=BabOptions(mip_binaries=2))
    measured = res.stats["auto"]
    assert measured["engine"] == prefer and "bab_upper" in measured, measured
    assert ("bab" in res.stats) == (prefer == "bab")
    assert res.status == "optimal", res.message
    assert res.value == pytest.approx(want, rel=1e-6)
    assert res.witness.value == pytest.approx(want, rel=1e-6)      # in the model's units
    assert f"engine auto chose {prefer}" in res.message
    if prefer == "bab":                  # the tree went on from the probe's nodes
        assert res.stats["bab"]["nodes"] > 1


def test_auto_keeps_a_query_the_mip_proves_within_its_probe(tmp_path):
    path, dom, want = _scaled_case(tmp_path)
    res = lipc.solve(path, dom, output="0-1", engine="auto")
    assert res.stats["auto"] == {"engine": "mip", "probe": auto.PROBE_MAX}
    assert res.status == "optimal" and res.value == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("limit, probe", [(None, 10.0), (5.0, 5.0), (60.0, 6.0), (600.0, 10.0)])
def test_probe_seconds(limit, probe):
    assert auto.probe_seconds(limit) == probe
