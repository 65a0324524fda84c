"""Branch and bound (lipc.bab) and the primal side against the brute-force oracle.

Nodes are forced to branch (a hand-off threshold of a few binaries), so the values below come
from split nodes, certified on the root query, not from one MIP.
"""
import itertools
from dataclasses import replace
import zlib

import numpy as np
import pytest

import lipc
from lipc.bab.driver import BabOptions
from lipc.verify.primal import search, start_columns
from lipc.errors import QueryError
from lipc.solvers import SolveOptions
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from oracle import enumerate_region_data
from test_norms_domains import M, _hidden, domain_case, dual, seeds

BRANCHY = BabOptions(mip_binaries=5)
NORM_SPECS = {"linf": "linf", "l1": "l1", "wlinf": "linf:{w}", "wl1": "l1:{w}",
              "custom": "custom:{V}"}
DOMAINS = ["box", "linf-clip", "l1", "polytope"]


def _case(tmp_path, in_norm, dom_kind, out_norm, hidden=(5, 5)):
    seed = zlib.crc32(f"bab/{in_norm}/{out_norm}/{dom_kind}".encode())
    rng = np.random.default_rng(seed)
    d = 3
    Ws, bs = random_mlp(rng, [d, *hidden, M])
    net = lipc.load(save_mlp(tmp_path / "n.onnx", Ws, bs))
    spec, lo, hi, A, b = domain_case(dom_kind, d, rng, tmp_path)
    w, V = rng.uniform(0.5, 2.0, d), rng.normal(size=(d + 2, d))
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "V.npy", V)
    norm = NORM_SPECS[in_norm].format(w=tmp_path / "w.npy", V=tmp_path / "V.npy")
    dom = lipc.parse_domain(spec, d)
    center_class = int(np.argmax(Ws[-1] @ _hidden(Ws, bs, dom.center) + bs[-1]))
    regions = enumerate_region_data(Ws, bs, lo, hi, A, b)
    want = max(dual(in_norm, r.jacobian.T @ c, w, V)
               for r in regions for c in seeds(out_norm, M, center_class))
    return net, spec, norm, dom, want


@pytest.mark.parametrize("in_norm, dom_kind", list(itertools.product(NORM_SPECS, DOMAINS)))
def test_bab_matches_oracle(tmp_path, in_norm, dom_kind):
    out_norm = "margin" if dom_kind in ("box", "l1") else "linf"
    net, spec, norm, dom, want = _case(tmp_path, in_norm, dom_kind, out_norm)
    res = lipc.solve(net, spec, input_norm=norm, output_norm=out_norm, engine="bab", bab=BRANCHY)
    assert res.status == "optimal", (res.message, res.stats["bab"])
    assert res.value == pytest.approx(want, rel=1e-6)
    assert res.lower <= want * (1 + 1e-9) + 1e-12 and res.upper >= want * (1 - 1e-9)
    assert dom.contains(np.array(res.witness.x))


def test_bab_branches_on_a_deeper_net(tmp_path):
    net, spec, norm, dom, want = _case(tmp_path, "linf", "box", "margin", hidden=(8, 8, 6))
    res = lipc.solve(net, spec, input_norm=norm, output_norm="margin", engine="bab",
                     bab=BabOptions(mip_binaries=2))
    assert res.stats["bab"]["nodes"] > 3            # the test exercises splitting
    assert res.status == "optimal" and res.value == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 8])
def test_interval_is_sound_at_every_node_limit(tmp_path, limit):
    net, spec, norm, dom, want = _case(tmp_path, "l1", "box", "margin", hidden=(8, 8, 6))
    res = lipc.solve(net, spec, input_norm=norm, output_norm="margin", engine="bab",
                     bab=replace(BRANCHY, node_limit=limit))
    assert res.stats["bab"]["nodes"] <= limit
    assert res.lower is not None and res.lower <= want * (1 + 1e-9)
    assert res.upper >= want * (1 - 1e-9)
    assert res.status in ("optimal", "node_limit")
    if res.status == "node_limit":
        assert res.value is None


def test_two_workers_explore_the_same_tree(tmp_path):
    net, spec, norm, dom, want = _case(tmp_path, "linf", "box", "margin", hidden=(8, 8, 6))
    one = lipc.solve(net, spec, output_norm="margin", engine="bab", bab=BRANCHY)
    two = lipc.solve(net, spec, output_norm="margin", engine="bab",
                     bab=replace(BRANCHY, workers=2))
    assert two.value == one.value == pytest.approx(want, rel=1e-6)
    assert two.stats["bab"]["nodes"] == one.stats["bab"]["nodes"]


def test_dask_cluster_explores_the_same_tree(tmp_path):
    """Dask parity with local worker processes: the same tree (nodes, value, interval).  One
    in-process worker over tcp (as a real cluster) keeps it quick: 7 s, 20 s with two worker
    processes."""
    distributed = pytest.importorskip("distributed", reason="Dask's 'distributed' (the "
                                      "'cluster' extra) is not installed")
    net, spec, norm, dom, want = _case(tmp_path, "linf", "l1", "margin", hidden=(8, 8, 6))
    local = lipc.solve(net, spec, output_norm="margin", engine="bab",
                       bab=replace(BRANCHY, workers=2))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp://", dashboard_address=None) as cluster:
        far = lipc.solve(net, spec, output_norm="margin", engine="bab",
                         bab=replace(BRANCHY, scheduler=cluster.scheduler_address))
    assert far.stats["bab"]["scheduler"] == cluster.scheduler_address
    assert far.stats["bab"]["nodes"] == local.stats["bab"]["nodes"] > 3
    assert (far.status, far.value, far.lower, far.upper) == \
        (local.status, local.value, local.lower, local.upper)
    assert far.value == pytest.approx(want, rel=1e-6)


def test_auto_engine_and_unknown_engine(tmp_path):
    net, spec, norm, dom, want = _case(tmp_path, "linf", "box", "margin")
    res = lipc.solve(net, spec, output_norm="margin", engine="auto")
    assert "bab" not in res.stats and res.value == pytest.approx(want, rel=1e-6)  # few unstable
    with pytest.raises(QueryError, match="engine"):
        lipc.solve(net, spec, output_norm="margin", engine="fast")


@pytest.mark.parametrize("out_norm", ["margin", "l1"])
def test_start_columns_satisfy_the_mip(tmp_path, out_norm):
    """The inverse of the value table: a point's columns are a feasible MIP solution whose
    objective is the IR's gradient norm there."""
    net, spec, norm, dom, want = _case(tmp_path, "linf", "box", out_norm)
    p, low = lipc.compile(net, spec, output_norm=out_norm)
    pr = search(p, low, samples=200)
    assert pr.value is not None and pr.value <= want * (1 + 1e-9)
    x = np.array(pr.witness.x)
    c = np.array(pr.witness.c)
    cols = start_columns(p, low, x, c)
    m = low.mip
    known = ~np.isnan(cols)
    # only the auxiliary variables of a lifted seed set (the margin set) are left to the solver
    assert known.all() == (out_norm == "l1")
    assert known.sum() >= m.n_cols - 2 * M * M
    k = cols[known]
    assert np.all(k >= m.lb[known] - 1e-9) and np.all(k <= m.ub[known] + 1e-9)
    A = m.dense()
    full = ~(A[:, ~known] != 0).any(axis=1)          # rows reading known columns only
    act = A[full][:, known] @ k
    assert full.sum() > m.n_rows // 2
    assert np.all(act >= m.row_lo[full] - 1e-7) and np.all(act <= m.row_hi[full] + 1e-7)
    ints = cols[m.integer & known]
    assert np.all(ints == np.round(ints))
    assert m.obj[known] @ k + m.obj_const == pytest.approx(pr.value, rel=1e-9)


def test_solve_reports_a_verified_lower_bound_without_a_solver_solution(tmp_path):
    net, spec, norm, dom, want = _case(tmp_path, "linf", "box", "margin", hidden=(8, 8, 6))
    res = lipc.solve(net, spec, output_norm="margin",
                     options=SolveOptions(solver="cbc", time_limit=0.01))
    assert res.lower is not None and res.lower <= want * (1 + 1e-9)
    assert res.stats["primal"]["value"] <= want * (1 + 1e-9)


def test_cli_engine_bab(tmp_path, capsys):
    from lipc.cli.main import main
    net_path = "examples/mlp_10_20_30_20_2.onnx"
    rc = main(["solve", net_path, "-d", "linf:examples/x0_10.npy:0.05", "-y", "0-1",
               "--engine", "bab", "--node-limit", "2", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0 and "bab " in out and "interval" in out


def test_node_mip_where_highs_presolve_claimed_a_wrong_optimum(tmp_path):
    """benchmarks/bab.py's B-0.1: HiGHS 1.16 with presolve called the root node's MIP optimal
    at 0.1962 while a verified point gives 0.2086; bab must agree with the single MIP."""
    pytest.importorskip("highspy")
    Ws, bs = random_mlp(np.random.default_rng(2), [10, 20, 30, 20, 2])
    net = lipc.load(save_mlp(tmp_path / "B.onnx", Ws, bs))
    c = np.random.default_rng(100 + ord("B")).uniform(0, 1, 10)
    dom = lipc.Domain(c - 0.1, c + 0.1)
    opts = SolveOptions(solver="highs")
    mip = lipc.solve(net, dom, output="0-1", options=opts)
    bab = lipc.solve(net, dom, output="0-1", options=opts, engine="bab")
    assert mip.status == bab.status == "optimal"
    assert bab.value == pytest.approx(mip.value, rel=1e-9) == pytest.approx(0.2086095054, rel=1e-8)


def test_a_grandchild_inherits_sound_bounds_that_only_tighten(tmp_path):
    """Nodes start from their parent's bounds (lipc.bab.node): at points of a grandchild's
    region (its splits' signs hold) every node value lies inside the grandchild's bounds, and
    those lie inside the bounds it inherited."""
    from ir_checks import assert_bounds_contain, evaluate_as_compiled
    from lipc.bab.node import NodeConfig, bound_node, children, node_problem
    rng = np.random.default_rng(7)
    Ws, bs = random_mlp(rng, [3, 8, 8, 6, 2])
    p = lipc.problem(save_mlp(tmp_path / "n.onnx", Ws, bs), lipc.Domain(-np.ones(3), np.ones(3)),
                     "0-1", "linf")
    cfg = NodeConfig(mip_binaries=0)
    args = (p.network, p.domain, p.query)
    root = bound_node(*args, (), (), cfg)
    checked = 0
    for key, splits, inherited in children(root):
        child = bound_node(*args, key, splits, cfg, inherited)
        for key2, splits2, inherited2 in children(child):
            q = node_problem(*args, splits2, "auto", inherited2)
            X = rng.uniform(-1, 1, (4000, 3))
            z = evaluate_as_compiled(q, X)
            inside = np.all([(z[n][j] >= 0) == bool(side) for n, j, side in splits2], axis=0)
            assert_bounds_contain(q, X[inside])
            checked += int(inside.sum())
            for name, (lo, hi) in inherited2.items():
                b = q.graph.bounds[name]
                assert np.all(b.lo >= lo) and np.all(b.hi <= hi), name
    assert checked > 1000                      # the regions are not empty


def test_one_pool_serves_every_batch_and_an_interrupt_leaves_no_worker(tmp_path, monkeypatch):
    """Two workers forked once per run (not per batch); Ctrl-C / SIGTERM (both a
    KeyboardInterrupt in the driver) after the second batch stops them with the run."""
    import multiprocessing
    import lipc.bab.driver as driver
    import lipc.bab.search as search

    pools, workers = [], set()

    class Counted(search.Pool):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            pools.append(self)
            workers.update(p.pid for p in multiprocessing.active_children())

    class StopAtSecond:                       # the driver's progress line, stopped by Ctrl-C
        def __init__(self, *a, **k):
            self.calls = 0

        def __call__(self, *a):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(search, "Pool", Counted)
    net, spec, norm, dom, want = _case(tmp_path, "linf", "box", "margin", hidden=(8, 8, 6))
    full = lipc.solve(net, spec, output_norm="margin", engine="bab",
                      bab=BabOptions(mip_binaries=2, workers=2))
    assert full.stats["bab"]["batches"] > 2 and len(pools) == 1 and len(workers) == 2
    monkeypatch.setattr(driver, "Progress", StopAtSecond)
    stopped = lipc.solve(net, spec, output_norm="margin", engine="bab",
                         bab=BabOptions(mip_binaries=2, workers=2))
    assert stopped.status == "interrupted" and stopped.lower <= want * (1 + 1e-9) <= stopped.upper
    assert len(pools) == 2 and multiprocessing.active_children() == []

    def interrupted(*a, **k):                 # the primal side runs while the root is bounded
        raise KeyboardInterrupt

    monkeypatch.setattr(driver, "search", interrupted)
    early = lipc.solve(net, spec, output_norm="margin", engine="bab",
                       bab=BabOptions(mip_binaries=2, workers=2))
    assert early.status == "interrupted" and early.stats["primal"] is None
    assert early.lower is None and early.upper is None      # nothing bounded, nothing found
    assert multiprocessing.active_children() == []
