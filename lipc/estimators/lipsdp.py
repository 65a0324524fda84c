"""LipSDP-neuron (Fazlyab et al. 2019): an SDP upper bound on the global l2 Lipschitz constant.

For g(x) = W_l relu(W_{l-1} ... relu(W_0 x)) (here W_l = c^T W_L, a single row, with the output
functional c folded in), ReLU is slope-restricted in [0, 1]; with x = (x_0, ..., x_{l-1}),
A = [blkdiag(W_0, ..., W_{l-1}), 0] and B = [0, I], every rho with

    [A; B]^T [[0, T], [T, -2T]] [A; B] + diag(-rho I, 0, ..., 0, W_l^T W_l)  <=  0

for some diagonal T >= 0 gives ||g(x) - g(y)||_2 <= sqrt(rho) ||x - y||_2.  The global bound is
also a bound over any domain.  Solved with cvxpy (Clarabel, else SCS); the value is converted to
the query's input norm as in :mod:`lipc.estimators.l2` (sqrt(d) * L2 for linf, L2 for l1).
The bound is as exact as the SDP solver's solution; ``details["max_eig"]`` reports the largest
eigenvalue of the LMI at the returned point (<= ~0 when the solution is feasible).
Only plain chains of affine maps and ReLUs.  Needs the ``estimators`` extra.
"""
from __future__ import annotations

import numpy as np

from ..errors import LipcError
from .l2 import require, scalar_chains, to_query_norm

GUARANTEE = "upper"


def _lmi_parts(Ws: list[np.ndarray]):
    """(A, B, d0, N, last): the constant pieces of the LMI for the chain Ws (>= 2 layers)."""
    hidden = [W.shape[0] for W in Ws[:-1]]
    d0, N = Ws[0].shape[1], sum(hidden)
    n = d0 + N
    A = np.zeros((N, n))
    r = c = 0
    for W in Ws[:-1]:
        A[r:r + W.shape[0], c:c + W.shape[1]] = W
        r += W.shape[0]
        c += W.shape[1]
    B = np.hstack([np.zeros((N, d0)), np.eye(N)])
    last = np.zeros((n, n))
    w = Ws[-1].reshape(-1)
    last[n - w.size:, n - w.size:] = np.outer(w, w)
    return A, B, d0, N, last


def _solve(cp, Ws: list[np.ndarray]) -> tuple[float, dict]:
    if len(Ws) == 1:                           # affine: the gradient is W^T c exactly
        return float(np.linalg.norm(Ws[0])), {"solver": None}
    A, B, d0, N, last = _lmi_parts(Ws)
    n = d0 + N
    t = cp.Variable(N, nonneg=True)
    rho = cp.Variable(nonneg=True)
    T = cp.diag(t)
    E = np.zeros((n, n))
    E[:d0, :d0] = np.eye(d0)
    M = A.T @ T @ B + B.T @ T @ A - 2 * (B.T @ T @ B) + last - rho * E
    prob = cp.Problem(cp.Minimize(rho), [(M + M.T) / 2 << 0])
    installed = cp.installed_solvers()
    errors = []
    for solver in ("CLARABEL", "SCS"):
        if solver not in installed:
            continue
        try:
            prob.solve(solver=solver)
        except Exception as e:                 # a solver failure: try the next one
            errors.append(f"{solver}: {e}")
            continue
        if prob.status in ("optimal", "optimal_inaccurate") and rho.value is not None:
            tv = np.maximum(np.asarray(t.value, float), 0.0)
            r = float(rho.value)
            Mv = A.T @ np.diag(tv) @ B
            Mv = Mv + Mv.T - 2 * B.T @ np.diag(tv) @ B + last - r * E
            return float(np.sqrt(max(r, 0.0))), {"solver": solver, "status": prob.status,
                                                 "rho": r,
                                                 "max_eig": float(np.linalg.eigvalsh(Mv).max())}
        errors.append(f"{solver}: status {prob.status}")
    if not errors:
        raise LipcError("lipsdp needs the Clarabel or SCS solver for cvxpy; install it with: "
                        "pip install 'lipc[estimators]'")
    raise LipcError("lipsdp: the SDP was not solved (" + "; ".join(errors) + ")")


def lipsdp(ctx) -> tuple[float, dict]:
    cp = require("cvxpy", "lipsdp")
    to_query_norm(ctx, 1.0, "lipsdp")            # refuse unsupported input norms before solving
    per = []
    for c, Ws in scalar_chains(ctx, "lipsdp"):
        v, info = _solve(cp, Ws)
        per.append((v, c, info))
    l2, c, info = max(per, key=lambda p: p[0])
    value, details = to_query_norm(ctx, l2, "lipsdp")
    details.update(info, c=c.tolist(), functionals=len(per))
    return value, details
