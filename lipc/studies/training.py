"""Small, seeded, plain-numpy training of ReLU MLPs (no framework needed).

Used by the benchmark generators of "trained" network families (benchmarks/table1.py) and by
the reproduction of the LipMIP paper's Figure 1 (the Lipschitz constant through training under
no regularisation, l2 weight decay, an l1 weight penalty and FGSM adversarial training).

A network is a pair ``(Ws, bs)`` of float64 lists: layer k maps ``h -> Ws[k] @ h + bs[k]``
(``Ws[k]`` has shape (out, in)), with a ReLU after every layer but the last, whose outputs are
the logits.  Training is full-batch Adam (beta1 0.9, beta2 0.999, eps 1e-8) on the mean softmax
cross-entropy plus the chosen regulariser; one Adam step per epoch.  Everything is vectorised
and deterministic for a seed.

    X, y = synthetic_clusters(0)
    Ws, bs = train_mlp(X, y, [10, 20, 2], seed=0, regularizer="l2", strength=1e-3)
    accuracy(Ws, bs, X, y); open("net.onnx", "wb").write(mlp_onnx_bytes(Ws, bs))
"""
from __future__ import annotations

from typing import Callable, Collection, Sequence

import numpy as np

from ..frontends.onnx.writer import onnx_mlp

REGULARIZERS = ("none", "l2", "l1", "fgsm")
FGSM_BOX = (0.0, 1.0)    # adversarial inputs are clipped to the data's box


def synthetic_clusters(seed: int, n: int = 300, dim: int = 10,
                       k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Random clusters in [0, 1]^dim (the LipMIP paper's synthetic set): ``k`` leader points
    with random 0/1 labels; each of the ``n`` uniform points takes its nearest leader's label.
    Returns X (n, dim) float64 and y (n,) int.  Draw order: X, leaders, labels (as
    benchmarks/table1.py always did, so its networks are unchanged)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, dim))
    leaders, labels = rng.uniform(0, 1, (k, dim)), rng.integers(0, 2, k)
    y = labels[np.argmin(((X[:, None] - leaders[None]) ** 2).sum(-1), axis=1)]
    return X, y


def init_mlp(sizes: Sequence[int], seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights uniform(-1, 1) / sqrt(fan_in) drawn layer by layer from default_rng(seed); zero
    biases."""
    rng = np.random.default_rng(seed)
    Ws = [rng.uniform(-1, 1, (b, a)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b) for b in sizes[1:]]
    return Ws, bs


def forward(Ws, bs, X) -> np.ndarray:
    """Logits (n, m) of the MLP on the rows of X."""
    h = np.asarray(X, dtype=np.float64)
    for W, b in zip(Ws[:-1], bs[:-1]):
        h = np.maximum(h @ W.T + b, 0)
    return h @ Ws[-1].T + bs[-1]


def accuracy(Ws, bs, X, y) -> float:
    """Fraction of rows of X whose arg-max logit is y."""
    return float(np.mean(forward(Ws, bs, X).argmax(1) == np.asarray(y)))


def _check_reg(regularizer: str) -> None:
    if regularizer not in REGULARIZERS:
        raise ValueError(f"unknown regularizer {regularizer!r}; choose from "
                         f"{', '.join(REGULARIZERS)}")


def _cross_entropy(Ws, bs, X, y, want_input_grad=False):
    """Mean softmax cross-entropy, its gradients (gWs, gbs) and optionally d loss / d X."""
    hs, zs = [X], []
    for W, b in zip(Ws[:-1], bs[:-1]):
        zs.append(hs[-1] @ W.T + b)
        hs.append(np.maximum(zs[-1], 0))
    logits = hs[-1] @ Ws[-1].T + bs[-1]
    shifted = logits - logits.max(1, keepdims=True)
    p = np.exp(shifted)
    s = p.sum(1, keepdims=True)
    loss = float(np.mean(np.log(s[:, 0]) - shifted[np.arange(len(X)), y]))
    p /= s
    Y = np.eye(Ws[-1].shape[0])[y]
    d = (p - Y) / len(X)
    gW, gb = [None] * len(Ws), [None] * len(bs)
    for k in range(len(Ws) - 1, -1, -1):
        gW[k], gb[k] = d.T @ hs[k], d.sum(0)
        if k:
            d = (d @ Ws[k]) * (zs[k - 1] > 0)
    gX = d @ Ws[0] if want_input_grad else None
    return loss, gW, gb, gX


def fgsm_inputs(Ws, bs, X, y, eps: float) -> np.ndarray:
    """The FGSM points ``clip(X + eps * sign(d loss / d X), 0, 1)`` of the current network
    (loss: the cross-entropy of each row; the sign does not depend on the 1/n of the mean)."""
    X = np.asarray(X, dtype=np.float64)
    gX = _cross_entropy(Ws, bs, X, np.asarray(y), want_input_grad=True)[3]
    return np.clip(X + eps * np.sign(gX), *FGSM_BOX)


def loss_and_grads(Ws, bs, X, y, regularizer: str = "none", strength: float = 0.0,
                   fgsm_eps: float = 0.1):
    """The training objective and its gradients: ``(loss, gWs, gbs)``.

    * ``none``: mean cross-entropy over (X, y);
    * ``l2``:   + strength * sum_k ||Ws[k]||_F^2  (weights only, not biases);
    * ``l1``:   + strength * sum_k sum |Ws[k]|    (subgradient strength * sign(W), 0 at 0);
    * ``fgsm``: mean cross-entropy over the 2n rows [X; X_adv] with labels [y; y], i.e.
      0.5 * clean loss + 0.5 * adversarial loss, where X_adv = fgsm_inputs(..., fgsm_eps) is
      computed from the current weights and then held fixed (no gradient through the attack).
    """
    _check_reg(regularizer)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    if regularizer == "fgsm":
        X = np.concatenate([X, fgsm_inputs(Ws, bs, X, y, fgsm_eps)])
        y = np.concatenate([y, y])
    loss, gW, gb, _ = _cross_entropy(Ws, bs, X, y)
    if regularizer == "l2":
        loss += strength * sum(float(np.sum(W * W)) for W in Ws)
        gW = [g + 2 * strength * W for g, W in zip(gW, Ws)]
    elif regularizer == "l1":
        loss += strength * sum(float(np.sum(np.abs(W))) for W in Ws)
        gW = [g + strength * np.sign(W) for g, W in zip(gW, Ws)]
    return loss, gW, gb


def train_mlp(X, y, sizes: Sequence[int], seed: int, epochs: int = 600, lr: float = 1e-2,
              regularizer: str = "none", strength: float = 0.0, fgsm_eps: float = 0.1,
              checkpoints: Collection[int] = (),
              on_checkpoint: Callable[[int, list, list], None] | None = None,
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Train a ReLU MLP of layer ``sizes`` on (X, y) with full-batch Adam; float64 (Ws, bs).

    Initialisation: :func:`init_mlp` (seed).  The objective is :func:`loss_and_grads` with
    ``regularizer`` in {"none", "l2", "l1", "fgsm"} (``strength`` weighs l2/l1; ``fgsm_eps`` is
    the FGSM radius; each epoch's FGSM points are recomputed from the current weights and
    trained on 50/50 with the clean points).  ``checkpoints``: epoch numbers in 0..epochs (0 =
    the initial weights, e = after e Adam steps) at which ``on_checkpoint(epoch, Ws, bs)`` is
    called with copies of the weights.
    """
    _check_reg(regularizer)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes {sizes}: need at least two positive layer sizes")
    if X.ndim != 2 or X.shape[1] != sizes[0] or y.shape != (len(X),):
        raise ValueError(f"X must be (n, {sizes[0]}) and y (n,); got {X.shape} and {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= sizes[-1]):
        raise ValueError(f"labels must be in 0..{sizes[-1] - 1}")
    if strength < 0 or epochs < 0 or fgsm_eps < 0:
        raise ValueError("strength, epochs and fgsm_eps must be >= 0")
    checkpoints = {int(c) for c in checkpoints}
    if checkpoints and on_checkpoint is None:
        raise ValueError("checkpoints given without on_checkpoint")
    if any(c < 0 or c > epochs for c in checkpoints):
        raise ValueError(f"checkpoints {sorted(checkpoints)} must be within 0..{epochs}")

    Ws, bs = init_mlp(sizes, seed)
    params = Ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]

    def report(epoch):
        if epoch in checkpoints:
            on_checkpoint(epoch, [W.copy() for W in Ws], [b.copy() for b in bs])

    report(0)
    for t in range(1, epochs + 1):
        _, gW, gb = loss_and_grads(Ws, bs, X, y, regularizer, strength, fgsm_eps)
        for i, g in enumerate(gW + gb):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] -= lr * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8)
        report(t)
    return Ws, bs


def mlp_onnx_bytes(Ws, bs, producer: str = "lipc") -> bytes:
    """The ONNX model of the MLP as bytes: float64 Gemm (transB=1) + Relu layers
    (lipc.frontends.onnx.writer).  Deterministic bytes for the same weights."""
    return onnx_mlp(Ws, bs, dtype=np.float64, producer=producer).SerializeToString()
