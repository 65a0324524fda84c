"""lipc.studies.training: seeded plain-numpy MLP training, its regularisers, checkpoints and ONNX export."""
from __future__ import annotations

import numpy as np
import pytest

import lipc
from lipc.core.interpret import evaluate
from lipc.studies.training import (REGULARIZERS, _cross_entropy, accuracy, fgsm_inputs, forward, init_mlp, loss_and_grads, mlp_onnx_bytes, synthetic_clusters, train_mlp)


def _tiny(seed=0, sizes=(3, 5, 4, 3), n=7):
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(size=(b, a)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=b) for b in sizes[1:]]
    X = rng.uniform(0, 1, (n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    return Ws, bs, X, y


# --- data -----------------------------------------------------------------------------------

def test_synthetic_clusters_unchanged():
    """Values of benchmarks/table1.py's synthetic data for seed 100, captured before the move."""
    X, y = synthetic_clusters(100)
    assert X.shape == (300, 10) and y.shape == (300,)
    np.testing.assert_array_equal(X[0, :4], [0.8349816305020089, 0.5965540269678873,
                                             0.2888632416912036, 0.042951570694211405])
    np.testing.assert_array_equal(X[1, -2:], [0.7710225764025075, 0.49416177862830957])
    np.testing.assert_array_equal(y[:20], [0, 1, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1,
                                           1, 1])
    assert y.sum() == 248
    assert X.min() >= 0 and X.max() <= 1


def test_train_none_matches_old_table1_train():
    """The networks of benchmarks/table1.py are unchanged by the move into lipc.studies.training: values
    its old train() gave (checked bit for bit against a verbatim copy of it when the code moved;
    compared to 1e-9 here, as BLAS kernels may round differently on another CPU)."""
    X, y = synthetic_clusters(101)
    Ws, bs = train_mlp(X, y, [10, 20, 30, 20, 2], 101, epochs=40)
    assert all(a.dtype == np.float64 for a in Ws + bs)
    assert float(sum((a * a).sum() for a in Ws + bs)) == pytest.approx(59.28621355935296, rel=1e-9)
    assert Ws[-1][0, 0] == pytest.approx(0.23909040129615627, rel=1e-9)
    assert bs[0][3] == pytest.approx(0.062278973349386785, rel=1e-9)


# --- gradients ------------------------------------------------------------------------------

@pytest.mark.parametrize("reg,strength", [("none", 0.0), ("l2", 0.3), ("l1", 0.3)])
def test_gradients_match_finite_differences(reg, strength):
    Ws, bs, X, y = _tiny()
    loss, gW, gb = loss_and_grads(Ws, bs, X, y, reg, strength)
    h = 1e-6
    for params, grads in ((Ws, gW), (bs, gb)):
        for P, G in zip(params, grads):
            num = np.zeros_like(P)
            for idx in np.ndindex(P.shape):
                old = P[idx]
                P[idx] = old + h
                up = loss_and_grads(Ws, bs, X, y, reg, strength)[0]
                P[idx] = old - h
                down = loss_and_grads(Ws, bs, X, y, reg, strength)[0]
                P[idx] = old
                num[idx] = (up - down) / (2 * h)
            np.testing.assert_allclose(G, num, rtol=1e-5, atol=1e-7)
    # the regulariser's value is in the loss
    base = loss_and_grads(Ws, bs, X, y)[0]
    extra = {"none": 0.0, "l2": strength * sum((W ** 2).sum() for W in Ws),
             "l1": strength * sum(np.abs(W).sum() for W in Ws)}[reg]
    assert loss == pytest.approx(base + extra, rel=1e-12)


def test_cross_entropy_value_and_input_gradient():
    Ws, bs, X, y = _tiny(1)
    logits = forward(Ws, bs, X)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    loss, _, _, gX = _cross_entropy(Ws, bs, X, y, want_input_grad=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(len(y)), y])), rel=1e-12)
    h, num = 1e-6, np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[idx] += h
        Xm[idx] -= h
        num[idx] = (_cross_entropy(Ws, bs, Xp, y)[0] - _cross_entropy(Ws, bs, Xm, y)[0]) / (2 * h)
    np.testing.assert_allclose(gX, num, rtol=1e-5, atol=1e-8)


# --- training -------------------------------------------------------------------------------

def test_training_reduces_loss_and_fits_clusters():
    X, y = synthetic_clusters(0)
    losses = {}
    Ws, bs = train_mlp(X, y, [10, 20, 2], seed=0, epochs=300, checkpoints=(0, 50, 300),
                       on_checkpoint=lambda e, W, b: losses.__setitem__(
                           e, loss_and_grads(W, b, X, y)[0]))
    assert losses[0] > losses[50] > losses[300]
    assert losses[300] < 0.5 * losses[0]
    assert accuracy(Ws, bs, X, y) > 0.9
    assert all(W.dtype == np.float64 for W in Ws + bs)


def test_deterministic_and_regularizers_differ():
    X, y = synthetic_clusters(3, n=80)
    kw = dict(sizes=[10, 12, 2], seed=5, epochs=30)
    nets = {r: train_mlp(X, y, regularizer=r, strength=1e-2, **kw) for r in REGULARIZERS}
    again = train_mlp(X, y, regularizer="fgsm", strength=1e-2, **kw)
    for a, b in zip(nets["fgsm"][0] + nets["fgsm"][1], again[0] + again[1]):
        np.testing.assert_array_equal(a, b)
    flat = {r: np.concatenate([p.ravel() for p in Ws + bs]) for r, (Ws, bs) in nets.items()}
    for i, r in enumerate(REGULARIZERS):
        for s in REGULARIZERS[i + 1:]:
            assert not np.array_equal(flat[r], flat[s]), (r, s)
    other_seed = train_mlp(X, y, [10, 12, 2], seed=6, epochs=30)
    assert not np.array_equal(other_seed[0][0], nets["none"][0][0])


def test_l2_weight_decay_shrinks_weights():
    X, y = synthetic_clusters(1, n=100)
    kw = dict(sizes=[10, 20, 2], seed=1, epochs=200)
    norm = {r: sum(np.sum(W ** 2) for W in train_mlp(X, y, regularizer=r, strength=0.1,
                                                     **kw)[0])
            for r in ("none", "l2")}
    assert norm["l2"] < 0.5 * norm["none"]


def test_l1_penalty_shrinks_l1_norm():
    X, y = synthetic_clusters(1, n=100)
    kw = dict(sizes=[10, 20, 2], seed=1, epochs=200)
    norm = {r: sum(np.abs(W).sum() for W in train_mlp(X, y, regularizer=r, strength=0.05,
                                                      **kw)[0])
            for r in ("none", "l1")}
    assert norm["l1"] < 0.5 * norm["none"]


def test_unknown_regularizer_and_bad_arguments():
    X, y = synthetic_clusters(0, n=20)
    with pytest.raises(ValueError, match="none, l2, l1, fgsm"):
        train_mlp(X, y, [10, 4, 2], 0, regularizer="dropout")
    with pytest.raises(ValueError, match="none, l2, l1, fgsm"):
        loss_and_grads(*init_mlp([10, 4, 2], 0), X, y, regularizer="L2")
    with pytest.raises(ValueError, match="checkpoints"):
        train_mlp(X, y, [10, 4, 2], 0, epochs=3, checkpoints=[4], on_checkpoint=print)
    with pytest.raises(ValueError):
        train_mlp(X, y, [9, 4, 2], 0)


# --- FGSM -----------------------------------------------------------------------------------

def test_fgsm_inputs_stay_in_box_and_increase_loss():
    Ws, bs, X, y = _tiny(2)
    X = np.clip(X * 1.2 - 0.1, 0, 1)       # many coordinates exactly on the box faces
    eps = 0.3
    adv = fgsm_inputs(Ws, bs, X, y, eps)
    assert adv.min() >= 0 and adv.max() <= 1
    gX = _cross_entropy(Ws, bs, X, y, want_input_grad=True)[3]
    raw = X + eps * np.sign(gX)
    assert raw.min() < 0 or raw.max() > 1            # so the clipping was needed
    np.testing.assert_array_equal(adv, np.clip(raw, 0, 1))
    inside = (raw >= 0) & (raw <= 1)
    np.testing.assert_allclose(np.abs(adv - X)[inside & (gX != 0)], eps)
    assert _cross_entropy(Ws, bs, adv, y)[0] > _cross_entropy(Ws, bs, X, y)[0]


def test_fgsm_objective_is_half_clean_half_adversarial():
    Ws, bs, X, y = _tiny(3)
    adv = fgsm_inputs(Ws, bs, X, y, 0.1)
    loss, gW, gb = loss_and_grads(Ws, bs, X, y, "fgsm", fgsm_eps=0.1)
    c, a = loss_and_grads(Ws, bs, X, y), loss_and_grads(Ws, bs, adv, y)
    assert loss == pytest.approx(0.5 * (c[0] + a[0]), rel=1e-12)
    for g, gc, ga in zip(gW + gb, c[1] + c[2], a[1] + a[2]):
        np.testing.assert_allclose(g, 0.5 * (gc + ga), rtol=1e-10, atol=1e-14)


# --- checkpoints ----------------------------------------------------------------------------

def test_checkpoints_receive_requested_epochs_as_copies():
    X, y = synthetic_clusters(4, n=50)
    got = []
    Ws, bs = train_mlp(X, y, [10, 6, 2], seed=2, epochs=6, checkpoints=[6, 0, 3],
                       on_checkpoint=lambda e, W, b: got.append((e, W, b)))
    assert [e for e, _, _ in got] == [0, 3, 6]
    W0, b0 = init_mlp([10, 6, 2], 2)
    for a, b in zip(got[0][1] + got[0][2], W0 + b0):      # training mutated its arrays since
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(got[1][1][0], Ws[0])
    for a, b in zip(got[2][1] + got[2][2], Ws + bs):
        np.testing.assert_array_equal(a, b)
    last = [a.copy() for a in got[2][1]]
    Ws[0][:] = 0.0                                         # mutate the returned weights
    np.testing.assert_array_equal(got[2][1][0], last[0])
    no_cb = train_mlp(X, y, [10, 6, 2], seed=2, epochs=6)
    np.testing.assert_array_equal(no_cb[0][1], got[2][1][1])


# --- ONNX export ----------------------------------------------------------------------------

def test_mlp_onnx_bytes_loads_and_matches_numpy(tmp_path):
    X, y = synthetic_clusters(5, n=60)
    Ws, bs = train_mlp(X, y, [10, 7, 5, 3], seed=3, epochs=20)
    data = mlp_onnx_bytes(Ws, bs)
    assert data == mlp_onnx_bytes([W.copy() for W in Ws], [b.copy() for b in bs])
    path = tmp_path / "net.onnx"
    path.write_bytes(data)
    net = lipc.load(path)
    assert net.n_inputs == 10 and net.n_outputs == 3
    want = forward(Ws, bs, X)
    np.testing.assert_allclose(net.reference(X), want, rtol=1e-12, atol=1e-12)
    ir = evaluate(net.graph, {net.input: X.T}, [net.output])[net.output].T
    np.testing.assert_allclose(ir, want, rtol=1e-12, atol=1e-12)

    import onnx
    model = onnx.load_from_string(data)
    assert model.opset_import[0].version == 17 and model.ir_version == 8
    assert model.producer_name == "lipc"
    assert [n.name for n in model.graph.node] == ["gemm0", "relu0", "gemm1", "relu1", "gemm2"]
    assert [i.name for i in model.graph.initializer] == ["W0", "b0", "W1", "b1", "W2", "b2"]
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(["y"], {"x": x[None]})[0] for x in X[:10]])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want[:10], rtol=1e-12, atol=1e-12)


def test_mlp_onnx_bytes_reproduces_manifest_random_networks():
    from lipc.studies.bench.manifest import random_onnx_bytes
    rng = np.random.default_rng(1)
    Ws, bs = [], []
    for a, b in zip([3, 6, 6, 2][:-1], [3, 6, 6, 2][1:]):
        s = 1 / np.sqrt(a)
        Ws.append(rng.uniform(-s, s, (b, a)))
        bs.append(rng.uniform(-s, s, b))
    assert mlp_onnx_bytes(Ws, bs, producer="lipc.bench") == random_onnx_bytes("random:3-6-6-2:1")


def test_mlp_onnx_bytes_rejects_mismatched_layers():
    Ws, bs = init_mlp([4, 3, 2], 0)
    with pytest.raises(ValueError):
        mlp_onnx_bytes(Ws, bs[:1])
    with pytest.raises(ValueError):
        mlp_onnx_bytes([Ws[0], Ws[1][:, :2]], bs)
