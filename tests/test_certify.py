"""lipc certify against the independent oracle: the certified radius min(cap, m_j / L_j) from the
oracle's exact per-class constants (region enumeration) and float64 margins."""
import itertools
import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

import lipc
import importlib
from lipc.cli.main import main

certify_mod = importlib.import_module("lipc.verify.certify")
from lipc.frontends.onnx.writer import random_mlp, save_mlp
from oracle import forward, lipschitz_many

N_CLASSES = 3


def draw(seed: int):
    rng = np.random.default_rng(7000 + seed)
    d = int(rng.integers(2, 5))
    widths = [int(rng.integers(4, 9)) for _ in range(int(rng.integers(1, 3)))]
    Ws, bs = random_mlp(rng, [d] + widths + [N_CLASSES])
    return Ws, bs, rng.uniform(0.2, 0.8, d)


def oracle_radius(Ws, bs, x0, r, kind, norm, clip=None):
    """(predicted class, margins, exact L_j, expected radius) from the oracle alone."""
    d = x0.size
    f = forward(Ws, bs, x0)
    y = int(np.argmax(f))
    lo, hi = x0 - r, x0 + r
    if clip is not None:
        lo, hi = np.maximum(lo, clip[0]), np.minimum(hi, clip[1])
    A = b = None
    if kind == "l1":                                   # |s . (x - x0)| <= r for every sign s
        A = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
        b = r + A @ x0
    others = [j for j in range(N_CLASSES) if j != y]
    alpha = {"linf": "inf", "l1": "1"}[norm]
    cs = [np.eye(N_CLASSES)[y] - np.eye(N_CLASSES)[j] for j in others]
    L = lipschitz_many(Ws, bs, lo, hi, A, b, queries=[(c, alpha) for c in cs])
    m = [f[y] - f[j] for j in others]
    cap = r / d if (kind, norm) == ("l1", "linf") else r
    return y, others, m, L, min([cap] + [mj / Lj for mj, Lj in zip(m, L)])


CASES = [  # (seed, ball, input norm, ball radius, clip)
    (0, "linf", "linf", 0.5, None),
    (1, "linf", "linf", 0.3, (0.0, 1.0)),
    (2, "linf", "l1", 0.4, None),
    (3, "l1", "l1", 0.8, None),
    (4, "l1", "linf", 0.8, None),
    (5, "linf", "linf", 0.6, None),
    (2, "linf", "l1", 1.0, None),     # the next three end below the ball's cap
    (2, "l1", "l1", 1.0, None),
    (2, "l1", "linf", 2.0, None),
]


@pytest.mark.parametrize("seed,kind,norm,r,clip", CASES)
def test_radius_matches_oracle(seed, kind, norm, r, clip, tmp_path):
    Ws, bs, x0 = draw(seed)
    y, others, m, L, want = oracle_radius(Ws, bs, x0, r, kind, norm, clip)
    path = save_mlp(tmp_path / "net.onnx", Ws, bs)
    spec = f"{kind}:{','.join(map(repr, x0.tolist()))}:{r!r}" + (f":{clip[0]}:{clip[1]}" if clip else "")
    res = lipc.certify(lipc.load(path), spec, input_norm=norm)
    assert res.status == "certified", res.message
    assert res.predicted == y
    assert res.radius == pytest.approx(want, rel=1e-6)
    assert res.radius <= want * (1 + 1e-9)             # a certificate never exceeds the truth
    for row, j, mj, Lj in zip(res.classes, others, m, L):
        assert row.cls == j and row.status == "optimal"
        assert row.margin == pytest.approx(mj, rel=1e-9) and row.margin <= mj
        assert row.upper == pytest.approx(Lj, rel=1e-6)
        assert row.radius == pytest.approx(mj / Lj, rel=1e-6)


def test_cases_cover_capped_and_uncapped():
    """The oracle cases above are only meaningful if some radii come from a margin and some
    from the ball: check the mix, so a bug that always returns the cap cannot pass."""
    capped = []
    for seed, kind, norm, r, clip in CASES:
        Ws, bs, x0 = draw(seed)
        *_, want = oracle_radius(Ws, bs, x0, r, kind, norm, clip)
        cap = r / x0.size if (kind, norm) == ("l1", "linf") else r
        capped.append(want == cap)
    assert any(capped) and not all(capped)
    assert {(k, n) for (_, k, n, *_), c in zip(CASES, capped) if not c} == set(
        itertools.product(["linf", "l1"], repeat=2))      # every ball/norm pair uncapped once


def _two_layer(last_W, last_b, tmp_path):
    """x in R^2 -> relu(I x) -> last layer: a classifier whose margins we choose."""
    Ws = [np.eye(2), np.asarray(last_W, float)]
    bs = [np.zeros(2), np.asarray(last_b, float)]
    return save_mlp(tmp_path / "net.onnx", Ws, bs)


def test_tie_at_centre_is_not_robust(tmp_path):
    path = _two_layer([[1, 2], [1, 2], [0, 1]], [0, 0, 0], tmp_path)   # f_0 == f_1 everywhere
    res = lipc.certify(path, "linf:0.5,0.5:0.1")
    assert res.status == "not_robust" and res.radius == 0.0
    assert [r.status for r in res.classes] == ["skipped", "skipped"]
    assert res.classes[0].radius == 0.0 and res.classes[0].margin <= 0


def test_constant_margin_is_capped_at_the_ball(tmp_path):
    """f_0 - f_1 = 1 on the whole ball: L = 0, its radius is unbounded, the ball caps it."""
    path = _two_layer([[1, 2], [1, 2], [-1, -1]], [1, 0, 0], tmp_path)
    res = lipc.certify(path, "l1:0.5,0.5:0.25")
    assert res.status == "certified" and res.predicted == 0
    # lipc.solve may report a rounding-level constant (7e-14 today) instead of exactly 0
    assert res.classes[0].upper <= 1e-12 and res.classes[0].radius > 1e6
    assert res.radius == 0.25


def test_zero_constant_gives_unbounded_class_radius():
    """An upper bound of exactly 0 (a constant margin) gives r_j = inf, written "inf" in JSON."""
    solved = SimpleNamespace(lower=0.0, upper=0.0, status="optimal", seconds=0.0, solver="cbc")
    row = certify_mod._row(1, 0.5, solved)
    assert row.radius == float("inf")
    res = lipc.CertifyResult("certified", 0.25, 0, 0.25, 0.25, "l1", "ball", 0.0, [1.0, 0.5],
                             [row])
    assert json.loads(json.dumps(res.to_dict()))["classes"][0]["radius"] == "inf"
    no_bound = certify_mod._row(1, 0.5, SimpleNamespace(lower=None, upper=None,
                                                        status="no_solution", seconds=1.0,
                                                        solver="cbc"))
    assert no_bound.radius == 0.0


def test_unproved_constant_gives_partial_certificate(tmp_path, monkeypatch):
    """A constant known only within [lower, upper] (here: the true upper bound doubled, as a
    time limit would leave it) gives the radius of the upper bound and status
    certified_partial naming the class."""
    Ws, bs, x0 = draw(0)
    y, others, m, L, _ = oracle_radius(Ws, bs, x0, 0.5, "linf", "linf")
    real = certify_mod.solve

    def loose(*a, **kw):
        res = real(*a, **kw)
        return replace(res, status="time_limit", value=None, upper=2 * res.upper) \
            if a[1].output == f"{y}-{others[0]}" else res
    monkeypatch.setattr(certify_mod, "solve", loose)
    res = lipc.certify(save_mlp(tmp_path / "n.onnx", Ws, bs),
                       f"linf:{','.join(map(repr, x0.tolist()))}:0.5")
    assert res.status == "certified_partial" and res.unproved == [others[0]]
    assert res.classes[0].radius == pytest.approx(m[0] / (2 * L[0]), rel=1e-6)
    assert res.radius == pytest.approx(min([0.5, m[0] / (2 * L[0]), m[1] / L[1]]), rel=1e-6)


def test_cli_text_and_json(examples, capsys):
    args = ["certify", str(examples / "classifier_4_16_16_3.onnx"), "--domain",
            f"linf:{examples / 'x0_4.npy'}:0.3"]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    api = lipc.certify(str(examples / "classifier_4_16_16_3.onnx"),
                       f"linf:{examples / 'x0_4.npy'}:0.3")
    assert out["status"] == api.status == "certified" and out["predicted"] == api.predicted
    assert out["radius"] == pytest.approx(api.radius, rel=1e-9) and out["radius"] < 0.3
    assert [r["cls"] for r in out["classes"]] == [0, 2] and out["ball_radius"] == 0.3
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "status     certified" in text and f"radius     {api.radius!r}" in text
    assert "compiled   formulation lipc, bounds auto (" in text
    assert f"lipc {lipc.__version__}" in text
    assert [r["solver"] for r in out["classes"]] == [r.solver for r in api.classes] != [None] * 2


def test_domain_objects_certify_like_their_specs(tmp_path):
    """lipc.LinfBall / lipc.L1Ball objects give the certificate of the same ball's spec string
    (centre, radius, clip box), and it is the oracle's; a box object has no centre."""
    Ws, bs, x0 = draw(1)
    net = lipc.load(save_mlp(tmp_path / "n.onnx", Ws, bs))
    centre = ",".join(map(repr, x0.tolist()))
    for obj, spec, kind, r, clip in [
            (lipc.LinfBall(x0, 0.3), f"linf:{centre}:0.3:0:1", "linf", 0.3, (0.0, 1.0)),
            (lipc.L1Ball(x0, 0.8), f"l1:{centre}:0.8", "l1", 0.8, None)]:
        a, b = lipc.certify(net, obj), lipc.certify(net, spec)
        assert (a.status, a.predicted, a.cap, a.radius) == (b.status, b.predicted, b.cap, b.radius)
        want = oracle_radius(Ws, bs, x0, r, kind, kind, clip)[-1]
        assert a.radius == pytest.approx(want, rel=1e-6)
    with pytest.raises(lipc.DomainError, match="needs a ball with a centre"):
        lipc.certify(net, lipc.Box(0, 1))


@pytest.mark.parametrize("domain,norm,words", [
    ("box:0:1", None, "needs a ball with a centre"),
    ("polytope:A.npy,b.npy", None, "needs a ball with a centre"),
    ("linf:0.1", None, "linf:CENTER:RADIUS"),
    ("linf:0,0,0,0:0.1,0.2,0.1,0.1", None, "one ball radius"),
    ("linf:2,2,2,2:0.1:0:1", None, "outside the clip bounds"),
    ("l1:0,0,0,0:0", None, "positive"),
    ("linf:0,0,0,0:0.1", "l2", "l2"),
    ("linf:0,0,0,0:0.1", "linf:1,2,3,4", "input norms linf and l1"),
])
def test_bad_input_is_one_line_error(examples, capsys, domain, norm, words):
    args = ["certify", str(examples / "classifier_4_16_16_3.onnx"), "--domain", domain]
    assert main(args + (["--input-norm", norm] if norm else [])) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lipc: error:") and "\n" not in err and words in err, err


def test_single_output_network_refused(examples, capsys):
    assert main(["certify", str(examples / "toy_2_8_8_1.onnx"), "--domain", "linf:0,0:0.1"]) == 2
    assert "at least two outputs" in capsys.readouterr().err
