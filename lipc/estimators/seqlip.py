"""SeqLip (Virmaux & Scaman 2018): the greedy SVD estimate of the l2 Lipschitz constant.

A HEURISTIC: neither a certified upper nor a lower bound.  For g = W_L relu(... relu(W_1 x))
(with the output functional c folded into W_L) and SVDs W_k = U_k S_k V_k^T, SeqLip estimates

    prod_{k=1}^{L-1} max_{s in {0,1}^{n_k}} || S~_{k+1} V_{k+1}^T diag(s) U_k S~_k ||_2

with S~_1 = S_1, S~_L = S_L and S~_k = S_k^(1/2) in between.  Each inner maximum is found
greedily (alternating: top singular pair (u, v) of the current product, then s_i = 1 exactly
when (A^T u)_i (B v)_i > 0), which may miss the true maximum.  The l2 value is converted to the
query's input norm as in :mod:`lipc.estimators.l2` (sqrt(d) * L2 for linf, L2 for l1).
Only plain chains of affine maps and ReLUs.
"""
from __future__ import annotations

import numpy as np

from .l2 import scalar_chains, to_query_norm

GUARANTEE = "heuristic"


def greedy_max(A: np.ndarray, B: np.ndarray, iters: int = 100) -> float:
    """A greedy estimate of max over s in {0,1}^n of ||A diag(s) B||_2."""
    n = A.shape[1]
    best = 0.0
    for s in (np.ones(n), None):
        if s is None:                         # a second start: the best single coordinate
            s = np.zeros(n)
            s[int(np.argmax(np.linalg.norm(A, axis=0) * np.linalg.norm(B, axis=1)))] = 1.0
        seen = set()
        for _ in range(iters):
            M = (A * s) @ B
            U, S, Vt = np.linalg.svd(M)
            best = max(best, float(S[0]) if S.size else 0.0)
            if not S.size or S[0] == 0.0:
                break
            new = ((A.T @ U[:, 0]) * (B @ Vt[0]) > 0).astype(float)
            key = new.tobytes()
            if key in seen or np.array_equal(new, s):
                break
            seen.add(key)
            s = new
        best = max(best, float(np.linalg.norm((A * s) @ B, 2)))
    return best


def _seqlip(Ws: list[np.ndarray]) -> tuple[float, list[float]]:
    if len(Ws) == 1:
        return float(np.linalg.norm(Ws[0], 2)), []
    svds = [np.linalg.svd(W, full_matrices=False) for W in Ws]
    L = len(Ws)

    def s_tilde(k):
        S = svds[k][1]
        return S if k in (0, L - 1) else np.sqrt(S)

    factors = []
    for k in range(L - 1):                    # between layer k and layer k + 1
        Uk = svds[k][0]
        Vk1t = svds[k + 1][2]
        A = s_tilde(k + 1)[:, None] * Vk1t    # S~_{k+1} V_{k+1}^T
        B = Uk * s_tilde(k)[None, :]          # U_k S~_k
        factors.append(greedy_max(A, B))
    return float(np.prod(factors)), factors


def seqlip(ctx) -> tuple[float, dict]:
    to_query_norm(ctx, 1.0, "seqlip")            # refuse unsupported input norms first
    per = [(*_seqlip(Ws), c) for c, Ws in scalar_chains(ctx, "seqlip")]
    l2, factors, c = max(per, key=lambda p: p[0])
    value, details = to_query_norm(ctx, l2, "seqlip")
    details.update(factors=factors, c=c.tolist(), functionals=len(per),
                   note="heuristic (greedy SeqLip): not a certified bound")
    return value, details
