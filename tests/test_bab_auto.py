"""``--engine auto`` (lipc.bab.auto): whichever engine it goes on with, the value is the oracle's.

The probes are made short and the MIP late (it sleeps first, in its child process) so that
neither engine proves the query within its probe; the comparison of the probes' bounds is then
forced each way, so both continuations run: branch and bound from its probe's state kept in
memory, and the held MIP resumed.  The network's outputs are scaled by 1e6, so a witness unscaled twice (the probe's state
shares its witness with the continuation) would show.
"""
import time

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
    monkeypatch.setattr(auto, "probe_seconds", lambda limit: 0.2)
    monkeypatch.setattr(auto, "bab_leads", lambda mip_upper, bab_upper: prefer == "bab")
    solve_compiled = auto.settle.solve_compiled

    def late_mip(*args, **kw):            # runs in the MIP's child: past the probe, surely
        time.sleep(1.0)
        return solve_compiled(*args, **kw)

    monkeypatch.setattr(auto.settle, "solve_compiled", late_mip)
    res = lipc.solve(path, dom, output="0-1", engine="auto", bab=BabOptions(mip_binaries=2))
    measured = res.stats["auto"]
    assert measured["engine"] == prefer and "bab_upper" in measured, measured
    assert measured["mip_upper"] >= want * (1 - 1e-9)      # a true bound, in the model's units
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


def test_progress_reports_the_models_units(tmp_path, monkeypatch):
    """The solver works on the normalised problem (outputs x 1e6 here are scaled down by a power
    of two); what it reports as it goes is in the model's units, like the result."""
    from lipc.solvers.base import Progress
    seen = []
    Progress("highs", True, lambda t, n, inc, bound: seen.append((inc, bound)), unit=4.0)(3, 1.5, 2.0)
    assert seen == [(6.0, 8.0)]
    path, dom, want = _scaled_case(tmp_path)
    solve_mip, units = auto.settle.solve_mip, []

    def watched(flat, opts, accept=None):
        units.append(opts.progress_unit)
        return solve_mip(flat, opts, accept=accept)

    monkeypatch.setattr(auto.settle, "solve_mip", watched)
    res = lipc.solve(path, dom, output="0-1")
    assert res.status == "optimal" and res.value == pytest.approx(want, rel=1e-6)
    p, low = lipc.compile(path, dom, output="0-1", normalize=True)
    assert p.scale_exp != 0 and units == [2.0 ** p.scale_exp]
