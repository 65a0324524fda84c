"""Independent brute-force oracle for exact local Lipschitz constants of ReLU networks.

This module deliberately imports nothing from ``lipc``: it works on plain lists of
float64 weight matrices ``W_k`` with shape ``(fan_out, fan_in)`` and bias vectors
``b_k``, for the network

    f(x) = W_L relu(W_{L-1} ... relu(W_1 x + b_1) ... + b_{L-1}) + b_L .

Method.  The local (alpha, beta)-Lipschitz constant of f over a domain X with
non-empty interior is the maximum, over all activation regions R (sets on which
every hidden neuron has a fixed sign) with R ∩ int(X) non-empty, of the operator
norm of the region's Jacobian J_R = W_L D_{L-1} W_{L-1} ... D_1 W_1.  We enumerate
those regions by a depth-first search, layer by layer and neuron by neuron: inside
the current partial region (a polytope in x) the next pre-activation z_j(x) = a.x + c
is affine, and a sign s is kept iff the polytope intersected with s*z_j(x) >= 0 has a
Chebyshev ball of radius > tol (LP: maximise t s.t. G_i x + t*||G_i|| <= h_i, t <= 1,
solved by scipy.optimize.linprog(method='highs')).

LPs are avoided whenever a cheaper argument settles a sign:
  * exact bounds of the affine z_j over the domain's bounding box (neuron stable on
    the whole box: single sign, no constraint needed);
  * a ball known to lie inside the current region (from the parent's LP centre):
    if the hyperplane z_j = 0 cuts it, both signs are feasible, and the side holding
    the ball's centre is always feasible;
  * random sample points of the domain whose own activation pattern matches the
    partial pattern, together with their distance to every constraint crossed so far
    (a sample at distance > tol from all constraints certifies a Chebyshev radius > tol);
  * a ray from a known interior point straight across the hyperplane (witness ball);
  * a one-row Lagrangian bound (box + one constraint of the region) proving that the
    side lies in a slab of width <= tol;
  * network-level bounds (interval / CROWN back-substitution) over the domain box;
  * at the start of each layer, every uncertain neuron is decided over the whole
    layer-entry polytope (a side infeasible there is infeasible in every sub-region).
Every feasibility certificate is "a ball of radius > tol lies in the region" and every
infeasibility certificate is "the region lies in a slab of width <= tol" (or the LP), so
the decision rule is the same as the LP's (up to the LP solver's tolerance).  fast=False
disables all shortcuts (one LP per neuron side), for cross-checking.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.optimize import linprog

__all__ = [
    "Region",
    "OracleResult",
    "as_net",
    "forward",
    "pattern_at",
    "jacobian",
    "jacobian_at",
    "operator_norm",
    "dual_norm",
    "norm",
    "region_polytope",
    "chebyshev_center",
    "enumerate_regions",
    "enumerate_region_data",
    "lipschitz",
    "lipschitz_many",
    "random_net",
    "load_npz_net",
]

_LP_OPTIONS = dict(primal_feasibility_tolerance=1e-10, dual_feasibility_tolerance=1e-10)
MAX_SIGN_ENUMERATION = 2 ** 20


# --------------------------------------------------------------------------- norms
def _norm_key(p) -> str:
    """Normalise a norm name: '1', '2', 'inf' (accepts 1, 2, inf, 'l1', 'linf', ...)."""
    if isinstance(p, str):
        s = p.strip().lower()
        if s.startswith("l"):
            s = s[1:]
        if s in ("1", "2"):
            return s
        if s in ("inf", "infty", "infinity", "oo"):
            return "inf"
    else:
        try:
            v = float(p)
        except (TypeError, ValueError):
            v = None
        if v == 1.0:
            return "1"
        if v == 2.0:
            return "2"
        if v is not None and math.isinf(v) and v > 0:
            return "inf"
    raise ValueError(f"unsupported norm {p!r}; use '1', '2' or 'inf'")


_DUAL = {"1": "inf", "2": "2", "inf": "1"}


def norm(v, p) -> float:
    """Vector p-norm, p in {'1','2','inf'}."""
    v = np.asarray(v, dtype=np.float64).ravel()
    p = _norm_key(p)
    if v.size == 0:
        return 0.0
    if p == "1":
        return float(np.sum(np.abs(v)))
    if p == "2":
        return float(np.linalg.norm(v))
    return float(np.max(np.abs(v)))


def dual_norm(v, alpha) -> float:
    """Dual norm of v with respect to the alpha-norm: ||v||_{alpha*}.

    alpha='inf' -> l1, alpha='1' -> l_inf, alpha='2' -> l2.
    """
    return norm(v, _DUAL[_norm_key(alpha)])


def _sign_matrix(n: int, chunk: int = 1 << 15):
    """Yield chunks of the 2^(n-1) sign vectors in {-1,+1}^n with first entry +1."""
    if n == 0:
        yield np.zeros((1, 0))
        return
    total = 1 << (n - 1)
    bits = np.arange(n - 1, dtype=np.int64)
    for start in range(0, total, chunk):
        idx = np.arange(start, min(total, start + chunk), dtype=np.int64)
        rest = ((idx[:, None] >> bits[None, :]) & 1).astype(np.float64) * 2.0 - 1.0
        yield np.hstack([np.ones((idx.size, 1)), rest])


def _max_over_signs(n: int, fn) -> float:
    if n > 20 or (1 << n) > MAX_SIGN_ENUMERATION:
        raise ValueError(f"sign enumeration over {n} coordinates (2^{n}) is too large")
    best = 0.0
    for S in _sign_matrix(n):
        best = max(best, float(np.max(fn(S))))
    return best


def operator_norm(J, alpha, beta) -> float:
    """||J||_{alpha->beta} = max_{||x||_alpha <= 1} ||J x||_beta, exactly.

    1->beta: max column beta-norm; alpha->inf: max row alpha*-norm; 2->2: largest
    singular value; inf->1, inf->2, 2->1: enumeration of sign vectors (NP-hard in
    general; raises ValueError beyond 2^20 sign vectors).
    """
    J = np.atleast_2d(np.asarray(J, dtype=np.float64))
    a, b = _norm_key(alpha), _norm_key(beta)
    m, d = J.shape
    if m == 0 or d == 0:
        return 0.0
    if a == "1":  # vertices of the l1 ball are +-e_i
        if b == "1":
            return float(np.max(np.sum(np.abs(J), axis=0)))
        if b == "2":
            return float(np.max(np.linalg.norm(J, axis=0)))
        return float(np.max(np.abs(J)))
    if b == "inf":  # max_i max_x |J_i x| = max_i ||J_i||_{alpha*}
        if a == "inf":
            return float(np.max(np.sum(np.abs(J), axis=1)))
        return float(np.max(np.linalg.norm(J, axis=1)))  # a == '2'
    if a == "2" and b == "2":
        return float(np.linalg.norm(J, 2))
    if a == "inf" and b == "1":
        # max_{x in {+-1}^d} ||J x||_1 = max_{y in {+-1}^m} ||J^T y||_1; enumerate the smaller side
        if m <= d:
            return _max_over_signs(m, lambda S: np.sum(np.abs(S @ J), axis=1))
        return _max_over_signs(d, lambda S: np.sum(np.abs(S @ J.T), axis=1))
    if a == "inf" and b == "2":
        # convex in x: maximised at a vertex of the cube
        return _max_over_signs(d, lambda S: np.linalg.norm(S @ J.T, axis=1))
    if a == "2" and b == "1":
        # ||J x||_1 = max_y y^T J x, so the norm is max_{y in {+-1}^m} ||J^T y||_2
        return _max_over_signs(m, lambda S: np.linalg.norm(S @ J, axis=1))
    raise AssertionError((a, b))  # pragma: no cover


# --------------------------------------------------------------------------- network
def as_net(weights, biases):
    """Validate and convert to lists of float64 arrays."""
    Ws = [np.array(W, dtype=np.float64, copy=True) for W in weights]
    bs = [np.array(bb, dtype=np.float64, copy=True).ravel() for bb in biases]
    if len(Ws) == 0 or len(Ws) != len(bs):
        raise ValueError("need the same positive number of weight matrices and bias vectors")
    for k, (W, bb) in enumerate(zip(Ws, bs)):
        if W.ndim != 2 or W.shape[0] != bb.size:
            raise ValueError(f"layer {k + 1}: W shape {W.shape} does not match bias size {bb.size}")
        if k > 0 and W.shape[1] != Ws[k - 1].shape[0]:
            raise ValueError(f"layer {k + 1}: fan_in {W.shape[1]} != previous fan_out {Ws[k - 1].shape[0]}")
    return Ws, bs


def load_npz_net(path):
    """Load a net stored as W1..WL, b1..bL in an .npz file."""
    z = np.load(path)
    L = len([k for k in z.files if k.startswith("W")])
    return [z[f"W{i}"] for i in range(1, L + 1)], [z[f"b{i}"] for i in range(1, L + 1)]


def forward(weights, biases, x):
    """Evaluate f at x (shape (d,) or (n, d)); returns (m,) or (n, m)."""
    X = np.asarray(x, dtype=np.float64)
    single = X.ndim == 1
    H = np.atleast_2d(X)
    L = len(weights)
    for k in range(L):
        H = H @ np.asarray(weights[k], dtype=np.float64).T + np.asarray(biases[k], dtype=np.float64)
        if k < L - 1:
            H = np.maximum(H, 0.0)
    return H[0] if single else H


def pattern_at(weights, biases, x):
    """Activation pattern (list of 0/1 int arrays, z > 0 means active) at one point x."""
    h = np.asarray(x, dtype=np.float64).ravel()
    pat = []
    for k in range(len(weights) - 1):
        z = np.asarray(weights[k], dtype=np.float64) @ h + np.asarray(biases[k], dtype=np.float64)
        p = (z > 0).astype(np.int64)
        pat.append(p)
        h = z * p
    return pat


def jacobian(weights, pattern) -> np.ndarray:
    """J = W_L D_{L-1} W_{L-1} ... D_1 W_1 for the given 0/1 pattern (one array per hidden layer)."""
    weights = [np.asarray(W, dtype=np.float64) for W in weights]
    if len(pattern) != len(weights) - 1:
        raise ValueError("pattern needs one array per hidden layer")
    J = weights[0]
    for k in range(1, len(weights)):
        D = np.asarray(pattern[k - 1], dtype=np.float64).ravel()
        J = weights[k] @ (D[:, None] * J)
    return J


def jacobian_at(weights, biases, x) -> np.ndarray:
    """Jacobian at x using the convention 'z > 0 means active'."""
    return jacobian(weights, pattern_at(weights, biases, x))


def random_net(rng, sizes):
    """Random float64 net with PyTorch nn.Linear-like init U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    sizes = [d, h_1, ..., h_{L-1}, m]; returns (weights, biases).
    """
    if isinstance(rng, (int, np.integer)) or rng is None:
        rng = np.random.default_rng(rng)
    Ws, bs = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        Ws.append(rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(np.float64))
        bs.append(rng.uniform(-bound, bound, size=fan_out).astype(np.float64))
    return Ws, bs


# --------------------------------------------------------------------------- LPs / domain
def _cheb_lp(G, h, lo, hi):
    """Chebyshev LP on {G x <= h} with rows of unit norm: max t s.t. G x + t <= h, t <= 1.

    Returns (t, x). x is restricted to the box [lo, hi] (which the caller includes in G).
    """
    n, d = G.shape
    c = np.zeros(d + 1)
    c[-1] = -1.0
    A_ub = np.hstack([G, np.ones((n, 1))])
    bounds = [(float(l), float(u)) for l, u in zip(lo, hi)] + [(None, 1.0)]
    res = linprog(c, A_ub=A_ub, b_ub=h, bounds=bounds, method="highs", options=_LP_OPTIONS)
    if res.status == 2:  # infeasible (cannot happen with t free below, but be safe)
        return -np.inf, None
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"Chebyshev LP failed: status {res.status}: {res.message}")
    return float(res.x[-1]), res.x[:d].copy()


def _normalize_rows(A, b):
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    b = np.asarray(b, dtype=np.float64).ravel()
    if A.shape[0] != b.size:
        raise ValueError("A and b have inconsistent sizes")
    n = np.linalg.norm(A, axis=1)
    zero = n == 0
    if np.any(zero & (b < 0)):
        raise ValueError("domain is empty (0 <= b_i < 0)")
    A, b, n = A[~zero], b[~zero], n[~zero]
    return A / n[:, None], b / n


@dataclass
class _Domain:
    d: int
    lo: np.ndarray
    hi: np.ndarray
    G: np.ndarray  # unit-norm rows: box rows + polytope rows
    h: np.ndarray
    center: np.ndarray
    radius: float


def _make_domain(d, lo, hi, A, b, tol) -> _Domain:
    box_given = lo is not None or hi is not None
    if (lo is None) != (hi is None):
        raise ValueError("give both lo and hi (or neither)")
    if (A is None) != (b is None):
        raise ValueError("give both A and b (or neither)")
    if not box_given and A is None:
        raise ValueError("need a bounded domain: a box (lo, hi) and/or a polytope (A, b)")
    PA = Pb = None
    if A is not None:
        A = np.atleast_2d(np.asarray(A, dtype=np.float64))
        if A.shape[1] != d:
            raise ValueError(f"A has {A.shape[1]} columns, network has {d} inputs")
        PA, Pb = _normalize_rows(A, b)
    if box_given:
        lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (d,)).copy()
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (d,)).copy()
        if np.any(~np.isfinite(lo)) or np.any(~np.isfinite(hi)):
            if A is None:
                raise ValueError("box must be finite when no polytope is given")
    else:
        lo = np.full(d, -np.inf)
        hi = np.full(d, np.inf)
    # bounding box of the polytope (tightens / replaces the box)
    if PA is not None:
        for i in range(d):
            for sgn in (1.0, -1.0):
                c = np.zeros(d)
                c[i] = sgn
                bnds = [(None if not np.isfinite(l) else float(l), None if not np.isfinite(u) else float(u))
                        for l, u in zip(lo, hi)]
                res = linprog(c, A_ub=PA, b_ub=Pb, bounds=bnds, method="highs", options=_LP_OPTIONS)
                if res.status == 3:
                    raise ValueError("domain is unbounded")
                if res.status == 2:
                    raise ValueError("domain is empty")
                if res.status != 0:
                    raise RuntimeError(f"bounding-box LP failed: {res.message}")
                if sgn > 0:
                    lo[i] = max(lo[i], res.fun)
                else:
                    hi[i] = min(hi[i], -res.fun)
    if np.any(~np.isfinite(lo)) or np.any(~np.isfinite(hi)):
        raise ValueError("domain is unbounded")
    if np.any(lo > hi):
        raise ValueError("domain is empty (lo > hi)")
    I = np.eye(d)
    Gs, hs = [I, -I], [hi, -lo]
    if PA is not None:
        Gs.append(PA)
        hs.append(Pb)
    G = np.vstack(Gs)
    h = np.concatenate(hs)
    t, x = _cheb_lp(G, h, lo, hi)
    if not t > tol:
        raise ValueError(f"domain has empty interior (Chebyshev radius {t:.3g} <= tol {tol:g})")
    return _Domain(d, lo, hi, G, h, x, t)


def chebyshev_center(G, h, lo, hi):
    """Chebyshev centre and radius (radius capped at 1) of {G x <= h, lo <= x <= hi}.

    Rows of G need not be normalised (zero rows are checked and dropped). Returns (x, t);
    t <= 0 means the set has empty interior."""
    lo = np.asarray(lo, dtype=np.float64).ravel()
    hi = np.asarray(hi, dtype=np.float64).ravel()
    d = lo.size
    G = np.asarray(G, dtype=np.float64).reshape(-1, d)
    h = np.asarray(h, dtype=np.float64).ravel()
    I = np.eye(d)
    GG, hh = [I, -I], [hi, -lo]
    if G.shape[0]:
        Gn, hn = _normalize_rows(G, h)
        GG.append(Gn)
        hh.append(hn)
    t, x = _cheb_lp(np.vstack(GG), np.concatenate(hh), lo, hi)
    return x, t


def region_polytope(weights, biases, pattern, lo=None, hi=None, A=None, b=None):
    """Inequalities (G, h) with G x <= h describing the activation region of `pattern`
    (one row per hidden neuron whose pre-activation is not constant in x), intersected
    with the polytope A x <= b when given (the box lo <= x <= hi is returned as is).

    Returns (G, h, consistent) where consistent is False if a neuron with constant
    pre-activation contradicts the pattern (then the region is empty or lower-dimensional).
    """
    Ws, bs = as_net(weights, biases)
    d = Ws[0].shape[1]
    M = np.eye(d)
    m = np.zeros(d)
    rows, rhs = [], []
    consistent = True
    for k in range(len(Ws) - 1):
        A_k = Ws[k] @ M
        c_k = Ws[k] @ m + bs[k]
        scale = np.linalg.norm(np.abs(Ws[k]) @ np.abs(M), axis=1)
        p = np.asarray(pattern[k]).ravel()
        for j in range(A_k.shape[0]):
            a, c0 = A_k[j], c_k[j]
            na = np.linalg.norm(a)
            if na <= 1e-12 * scale[j] or na == 0.0:
                if (c0 > 0) != bool(p[j]) and c0 != 0.0:
                    consistent = False
                continue
            if p[j]:
                rows.append(-a)
                rhs.append(c0)
            else:
                rows.append(a)
                rhs.append(-c0)
        D = p.astype(np.float64)
        M = D[:, None] * A_k
        m = D * c_k
    if A is not None:
        A = np.atleast_2d(np.asarray(A, dtype=np.float64))
        rows.extend(list(A))
        rhs.extend(list(np.asarray(b, dtype=np.float64).ravel()))
    G = np.array(rows, dtype=np.float64).reshape(-1, d)
    h = np.array(rhs, dtype=np.float64)
    return G, h, consistent


def _single_row_bound(a, off, G, h, lo, hi):
    """Upper bound on max{a.x + off : lo <= x <= hi, G_r x <= h_r} for the best single row r
    (exact Lagrangian dual of each one-row problem; +inf-free since the box is bounded).
    phi_r(lam) = lam h_r + max_box (a - lam G_r).x is convex piecewise linear in lam >= 0 with
    breakpoints a_i / G_ri, so its minimum is attained at 0 or at a positive breakpoint."""
    box_max = off + float(np.maximum(a * lo, a * hi).sum())
    if G.shape[0] == 0:
        return box_max
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = a[None, :] / G
    lam = np.where(np.isfinite(lam) & (lam > 0), lam, 0.0)
    coef = a[None, None, :] - lam[:, :, None] * G[:, None, :]          # R x d x d
    phi = lam * h[:, None] + np.maximum(coef * lo, coef * hi).sum(axis=2)
    return min(box_max, off + float(phi.min()))


def _crown_bounds(Ws, bs, lo, hi):
    """Bounds l_k <= z_k(x) <= u_k on every hidden pre-activation of the network over the
    box [lo, hi], by linear back-substitution through ReLU relaxations (CROWN/DeepPoly style,
    intervals as the fallback). They hold in every activation region, so a neuron with
    l > 0 (u < 0) is active (inactive) on the whole domain."""
    H = len(Ws) - 1
    Ls, Us = [], []
    for k in range(H):
        # interval bound
        if k == 0:
            Wp, Wn = np.maximum(Ws[0], 0), np.minimum(Ws[0], 0)
            il = Wp @ lo + Wn @ hi + bs[0]
            iu = Wp @ hi + Wn @ lo + bs[0]
        else:
            hl, hu = np.maximum(Ls[-1], 0), np.maximum(Us[-1], 0)
            Wp, Wn = np.maximum(Ws[k], 0), np.minimum(Ws[k], 0)
            il = Wp @ hl + Wn @ hu + bs[k]
            iu = Wp @ hu + Wn @ hl + bs[k]
        bnds = []
        for sgn in (1.0, -1.0):  # lower bound of sgn * z_k
            A = sgn * Ws[k]
            const = sgn * bs[k].copy()
            for i in range(k - 1, -1, -1):
                l, u = Ls[i], Us[i]
                act, ina = l >= 0, u <= 0
                unst = ~(act | ina)
                low = np.where(act, 1.0, 0.0)
                low[unst] = (u[unst] > -l[unst]).astype(np.float64)
                s = np.where(act, 1.0, 0.0)
                s[unst] = u[unst] / (u[unst] - l[unst])
                icpt = np.zeros_like(l)
                icpt[unst] = -s[unst] * l[unst]
                Ap, An = np.maximum(A, 0), np.minimum(A, 0)
                Az = Ap * low + An * s
                const = const + An @ icpt
                const = const + Az @ bs[i]
                A = Az @ Ws[i]
            bnds.append(const + np.minimum(A * lo, A * hi).sum(axis=1))
        Ls.append(np.maximum(il, bnds[0]))
        Us.append(np.minimum(iu, -bnds[1]))
    return Ls, Us


# --------------------------------------------------------------------------- enumeration
@dataclass
class Region:
    pattern: list            # one 0/1 int array per hidden layer
    jacobian: np.ndarray     # (m, d)
    point: np.ndarray        # a point strictly inside the region (centre of `radius` ball)
    radius: float            # a ball of this radius around `point` lies in region ∩ X


@dataclass
class _Stats:
    lps: int = 0      # LPs solved
    nodes: int = 0    # search nodes
    rays: int = 0     # sides certified feasible by a ray-shooting witness
    lagr: int = 0     # sides proved infeasible by a one-row Lagrangian bound


def _enumerate(Ws, bs, dom: _Domain, tol: float, n_samples: int, seed: int, layer_precheck: bool = True,
               use_net_bounds: bool = True, fast: bool = True):
    """fast=False: reference mode, one Chebyshev LP per neuron side (no shortcut at all except
    neurons with constant pre-activation); used to cross-check the accelerated search."""
    if not fast:
        n_samples, layer_precheck, use_net_bounds = 0, False, False
    d = dom.d
    L = len(Ws)
    H = L - 1
    stats = _Stats()
    regions: list[Region] = []
    if H == 0:
        regions.append(Region([], Ws[0].copy(), dom.center.copy(), dom.radius))
        return regions, stats

    # ---- sample points of the domain (accelerators only) and their pre-activations
    rng = np.random.default_rng(seed)
    X = rng.uniform(dom.lo, dom.hi, size=(max(n_samples, 0), d))
    if X.shape[0]:
        slack0 = np.min(dom.h[None, :] - X @ dom.G.T, axis=1)
        keep = slack0 > tol
        X, slack0 = X[keep], slack0[keep]
    else:
        slack0 = np.zeros(0)
    def preacts(P):
        out, Hh = [], P
        for k in range(H):
            zk = Hh @ Ws[k].T + bs[k]
            out.append(zk)
            Hh = np.maximum(zk, 0.0)
        return out

    # pool of interior points: random samples plus every witness found on the way (LP centres,
    # ray points); a node keeps the indices of the pool points strictly inside it and their
    # distance to its constraints
    class _Pool:  # growable arrays (capacity doubling); rows [0, n) are valid
        def __init__(self, P):
            self.n = P.shape[0]
            cap = max(16, 2 * self.n)
            self.X = np.zeros((cap, d))
            self.X[: self.n] = P
            self.Z = []
            for zk in preacts(P):
                buf = np.zeros((cap, zk.shape[1]))
                buf[: self.n] = zk
                self.Z.append(buf)

        def add(self, y):
            if self.n == self.X.shape[0]:
                self.X = np.vstack([self.X, np.zeros_like(self.X)])
                self.Z = [np.vstack([zk, np.zeros_like(zk)]) for zk in self.Z]
            self.X[self.n] = y
            for zk, zn in zip(self.Z, preacts(y[None, :])):
                zk[self.n] = zn[0]
            self.n += 1
            return self.n - 1

    pool = _Pool(X)
    add_point = pool.add

    net_lo, net_hi = _crown_bounds(Ws, bs, dom.lo, dom.hi) if use_net_bounds else (
        [np.full(W.shape[0], -np.inf) for W in Ws[:-1]], [np.full(W.shape[0], np.inf) for W in Ws[:-1]])

    # A search node is a dict: k (layer), j (next neuron), prev (patterns of layers < k),
    # layer (affine pre-activations A_k x + c_k of layer k in this region, their norms, flags
    # and box ranges), pat (layer-k pattern so far, -1 = undecided; None before layer entry),
    # G, h (unit-row constraints of the region incl. the domain), bx, br (a ball inside the
    # region), sidx, sslack (pool points inside the region and their distance to its boundary).
    def layer_entry(k, M, m_vec):
        A_k = Ws[k] @ M
        c_k = Ws[k] @ m_vec + bs[k]
        na = np.linalg.norm(A_k, axis=1)
        scale = np.linalg.norm(np.abs(Ws[k]) @ np.abs(M), axis=1)
        const = (na <= 1e-12 * scale) | (na == 0.0)
        # exact range of the affine pre-activation over the bounding box
        zlo = c_k + np.minimum(A_k * dom.lo, A_k * dom.hi).sum(axis=1)
        zhi = c_k + np.maximum(A_k * dom.lo, A_k * dom.hi).sum(axis=1)
        # network-level bounds over the box hold in this region too
        eps = 1e-12 * (1.0 + np.abs(net_lo[k]) + np.abs(net_hi[k]))
        zlo = np.maximum(zlo, np.where(net_lo[k] > eps, net_lo[k], -np.inf))
        zhi = np.minimum(zhi, np.where(net_hi[k] < -eps, net_hi[k], np.inf))
        if not fast:
            zlo, zhi = np.full_like(zlo, -np.inf), np.full_like(zhi, np.inf)
        return A_k, c_k, na, const, zlo, zhi

    def apply_side(node_G, node_h, a_unit, off, s, sidx, sslack, zs_over_na):
        """Constraint s*z >= 0, i.e. -s*(a.x + c)/||a|| <= 0 with unit row."""
        if s == 1:
            row, r = -a_unit, off
        else:
            row, r = a_unit, -off
        G = np.vstack([node_G, row[None, :]])
        h = np.append(node_h, r)
        if sidx.size:
            sel = (zs_over_na > 0) if s == 1 else (zs_over_na < 0)
            nsidx = sidx[sel]
            nslack = np.minimum(sslack[sel], np.abs(zs_over_na[sel]))
        else:
            nsidx, nslack = sidx, sslack
        return G, h, nsidx, nslack

    def child_ball(ball_x, ball_r, a_unit, delta, s, nsidx, nslack):
        cand = None
        if ball_x is not None:
            sd = delta if s == 1 else -delta
            if sd >= ball_r:
                cand = (ball_x, ball_r)
            elif sd > -ball_r:
                rad = (ball_r + sd) / 2.0
                shift = (ball_r - sd) / 2.0  # move away from the hyperplane, into side s
                direction = a_unit if s == 1 else -a_unit
                cand = (ball_x + shift * direction, rad)
        if nsidx.size:
            i = int(np.argmax(nslack))
            if cand is None or nslack[i] > cand[1]:
                cand = (pool.X[nsidx[i]].copy(), float(nslack[i]))
        return cand if cand is not None and cand[1] > 0 else (None, 0.0)

    def side_certified(ball_x, ball_r, delta, s, zs_over_na, sslack):
        if ball_x is not None:
            sd = delta if s == 1 else -delta
            rad = ball_r if sd >= ball_r else (ball_r + sd) / 2.0
            if rad > tol:
                return True
        if zs_over_na.size:
            v = zs_over_na if s == 1 else -zs_over_na
            if np.any(np.minimum(v, sslack) > tol):
                return True
        return False

    def lp_side(node_G, node_h, a_unit, off, s):
        row, r = (-a_unit, off) if s == 1 else (a_unit, -off)
        stats.lps += 1
        t, x = _cheb_lp(np.vstack([node_G, row[None, :]]), np.append(node_h, r), dom.lo, dom.hi)
        return t, x

    n_box = 2 * d

    def decide(G, h, a_unit, off, s, bx, br, delta, zs, sslack):
        """Is region ∩ {s-side of neuron} of Chebyshev radius > tol?  Returns (feasible, ball)
        where ball is None or (point, radius) of a ball inside region ∩ side."""
        if not fast:
            t, x = lp_side(G, h, a_unit, off, s)
            return (t > tol), None
        if side_certified(bx, br, delta, s, zs, sslack):
            return True, None
        sg = 1.0 if s == 1 else -1.0
        u = sg * a_unit
        # rays from known interior points (ball centre, the pool points nearest to the
        # hyperplane) straight into the side: a cheap witness
        starts, sds = [], []
        if bx is not None:
            starts.append(bx)
            sds.append(sg * delta)
        if zs.size:
            v = sg * zs  # signed distance into the side; all <= tol here for usable points
            near = np.argsort(-v)[:4]
            starts.extend(pool.X[sidx[near]])
            sds.extend(v[near])
        if starts:
            Y0 = np.array(starts)                      # c x d
            sd = np.array(sds)
            sl = h[None, :] - Y0 @ G.T                 # c x R
            gu = G @ u                                 # R
            pos = gu > 1e-15
            t_max = np.min(sl[:, pos] / gu[pos], axis=1) if np.any(pos) else np.full(len(sd), np.inf)
            ok = np.isfinite(t_max) & (t_max > -sd)
            if np.any(ok):
                tm = 0.5 * (t_max - sd)
                Y = Y0 + tm[:, None] * u[None, :]
                rad = np.minimum(np.minimum(1.0, sd + tm), np.min(h[None, :] - Y @ G.T, axis=1))
                rad = np.where(ok, rad, -np.inf)
                i = int(np.argmax(rad))
                if rad[i] > tol:
                    stats.rays += 1
                    return True, (Y[i].copy(), float(rad[i]))
        # cheap proof of infeasibility: max of the signed distance over box ∩ {one row}
        ub = _single_row_bound(u, sg * off, G[n_box:], h[n_box:], dom.lo, dom.hi)
        if ub <= tol:  # the side lies in a slab of width <= tol: Chebyshev radius <= tol/2
            stats.lagr += 1
            return False, None
        t, x = lp_side(G, h, a_unit, off, s)
        if not t > tol:
            return False, None
        row, r = (-a_unit, off) if s == 1 else (a_unit, -off)
        vr = min(1.0, float(np.min(h - G @ x)), float(r - row @ x))
        return True, ((x, vr) if vr > 0 else None)

    def verified_radius(G, h, x):
        if x is None:
            return 0.0
        return float(min(1.0, np.min(h - G @ x)))

    def interior_ball(G, h):
        """Chebyshev LP of the region: (centre, verified radius), or (None, 0) if too thin."""
        t, x = _cheb_lp(G, h, dom.lo, dom.hi)
        stats.lps += 1
        if not t > tol:
            return None, 0.0
        return x, verified_radius(G, h, x)

    # root
    A0, c0, na0, const0, zlo0, zhi0 = layer_entry(0, np.eye(d), np.zeros(d))
    root = dict(k=0, j=0, prev=[], layer=(A0, c0, na0, const0, zlo0, zhi0), pat=None,
                G=dom.G.copy(), h=dom.h.copy(), bx=dom.center.copy(), br=dom.radius,
                sidx=np.arange(X.shape[0]), sslack=slack0.copy())
    stack = [root]
    while stack:
        node = stack.pop()
        stats.nodes += 1
        k = node["k"]
        A_k, c_k, na, const, zlo, zhi = node["layer"]
        n_k = A_k.shape[0]
        G, h = node["G"], node["h"]
        bx, br = node["bx"], node["br"]
        sidx, sslack = node["sidx"], node["sslack"]
        if node["pat"] is None:
            # ---------------- layer entry: fix neurons whose sign is forced over this polytope
            pat = np.full(n_k, -1, dtype=np.int8)
            forced = np.zeros(n_k, dtype=bool)  # forced by LP (constraint row still added)
            for j in range(n_k):
                if const[j]:
                    pat[j] = 1 if c_k[j] > 0 else 0
                elif zlo[j] > 0:
                    pat[j] = 1
                elif zhi[j] < 0:
                    pat[j] = 0
            if layer_precheck:
                und = np.flatnonzero(pat < 0)
                dead = False
                for j in und:
                    a_unit = A_k[j] / na[j]
                    off = c_k[j] / na[j]
                    delta = (a_unit @ bx + off) if bx is not None else 0.0
                    zs = pool.Z[k][sidx, j] / na[j] if sidx.size else np.zeros(0)
                    ok = []
                    for s in (1, 0):
                        feasible, wball = decide(G, h, a_unit, off, s, bx, br, delta, zs, sslack)
                        ok.append(feasible)
                        if wball is not None:
                            sl = float(np.min(h - G @ wball[0]))
                            if sl > tol:  # robustly inside: its own pattern is the node's
                                sidx = np.append(sidx, add_point(wball[0]))
                                sslack = np.append(sslack, sl)
                    if ok[0] and ok[1]:
                        continue
                    if not ok[0] and not ok[1]:
                        dead = True
                        break
                    s = 1 if ok[0] else 0
                    pat[j] = s
                    forced[j] = True
                if dead:
                    continue
                # add the rows of LP-forced neurons (the region is unchanged up to a sliver)
                for j in np.flatnonzero(forced):
                    a_unit = A_k[j] / na[j]
                    off = c_k[j] / na[j]
                    zs = pool.Z[k][sidx, j] / na[j] if sidx.size else np.zeros(0)
                    delta = (a_unit @ bx + off) if bx is not None else 0.0
                    s = int(pat[j])
                    G, h, nsidx, nslack = apply_side(G, h, a_unit, off, s, sidx, sslack, zs)
                    bx, br = child_ball(bx, br, a_unit, delta, s, nsidx, nslack)
                    sidx, sslack = nsidx, nslack
                if bx is None:
                    bx, br = interior_ball(G, h)
                    if bx is None:
                        continue
                    if br <= 0:
                        bx, br = None, 0.0
            node = dict(node, pat=pat, G=G, h=h, bx=bx, br=br, sidx=sidx, sslack=sslack)
        pat = node["pat"]
        j = node["j"]
        # skip neurons already decided
        while j < n_k and pat[j] >= 0:
            j += 1
        if j < n_k:
            a_unit = A_k[j] / na[j]
            off = c_k[j] / na[j]
            delta = (a_unit @ bx + off) if bx is not None else 0.0
            zs = pool.Z[k][sidx, j] / na[j] if sidx.size else np.zeros(0)
            for s in (0, 1):
                feasible, wball = decide(G, h, a_unit, off, s, bx, br, delta, zs, sslack)
                if not feasible:
                    continue
                nG, nh, nsidx, nslack = apply_side(G, h, a_unit, off, s, sidx, sslack, zs)
                cbx, cbr = child_ball(bx, br, a_unit, delta, s, nsidx, nslack)
                if wball is not None and wball[1] > tol:
                    nsidx = np.append(nsidx, add_point(wball[0]))
                    nslack = np.append(nslack, wball[1])
                    if wball[1] > cbr:
                        cbx, cbr = wball
                npat = pat.copy()
                npat[j] = s
                stack.append(dict(node, j=j + 1, pat=npat, G=nG, h=nh, bx=cbx, br=cbr,
                                  sidx=nsidx, sslack=nslack))
            continue
        # ---------------- layer complete
        D = pat.astype(np.float64)
        M = D[:, None] * A_k
        m_vec = D * c_k
        prev = node["prev"] + [pat.astype(np.int64)]
        if k + 1 == H:
            J = Ws[H] @ M
            if bx is None:
                bx, br = interior_ball(G, h)
                if bx is None:
                    continue
            regions.append(Region(prev, J, np.array(bx, dtype=np.float64), float(br)))
        else:
            stack.append(dict(k=k + 1, j=0, prev=prev, layer=layer_entry(k + 1, M, m_vec), pat=None,
                              G=G, h=h, bx=bx, br=br, sidx=sidx, sslack=sslack))
    return regions, stats


def enumerate_region_data(weights, biases, lo=None, hi=None, A=None, b=None, tol=1e-9,
                          n_samples=4096, seed=0, return_stats=False, layer_precheck=True,
                          use_net_bounds=True, fast=True):
    """Like enumerate_regions, but returns Region objects (pattern, jacobian, interior point, radius).

    With return_stats=True returns (regions, {'lps': ..., 'nodes': ..., 'rays': ..., 'lagr': ...}).
    n_samples, seed, layer_precheck, use_net_bounds only change the speed, never the result;
    fast=False switches every shortcut off (one LP per neuron side) for cross-checking."""
    Ws, bs = as_net(weights, biases)
    d = Ws[0].shape[1]
    dom = _make_domain(d, lo, hi, A, b, tol)
    regions, stats = _enumerate(Ws, bs, dom, tol, n_samples, seed, layer_precheck, use_net_bounds, fast)
    if return_stats:
        return regions, dict(vars(stats))
    return regions


def enumerate_regions(weights, biases, lo=None, hi=None, A=None, b=None, tol=1e-9, **kw):
    """All activation patterns whose region meets the interior of
    X = {lo <= x <= hi} ∩ {A x <= b} in a full-dimensional set (Chebyshev radius > tol).

    Each pattern is a list of 0/1 int arrays, one per hidden layer. Neurons whose
    pre-activation is constant on a region take the sign of that constant (inactive if 0).
    """
    return [r.pattern for r in enumerate_region_data(weights, biases, lo, hi, A, b, tol, **kw)]


# --------------------------------------------------------------------------- Lipschitz
@dataclass
class OracleResult:
    value: float
    n_regions: int
    best_pattern: list = field(repr=False)
    best_point: np.ndarray = field(repr=False)


def _query_values(regions: Sequence[Region], c, alpha, beta) -> np.ndarray:
    if c is not None:
        cv = np.asarray(c, dtype=np.float64).ravel()
        return np.array([dual_norm(r.jacobian.T @ cv, alpha) for r in regions])
    if beta is None:
        raise ValueError("beta is required when no functional c is given")
    return np.array([operator_norm(r.jacobian, alpha, beta) for r in regions])


def lipschitz_many(weights, biases, lo=None, hi=None, A=None, b=None, queries=(), tol=1e-9,
                   regions=None, **kw) -> list:
    """Several Lipschitz queries from one enumeration.

    queries: iterable of (c, alpha, beta): c a vector (scalar functional c^T f, beta ignored)
    or None (then the (alpha, beta) operator norm of the Jacobian). Returns list of floats.
    Pass `regions` (from enumerate_region_data) to reuse an enumeration across calls.
    """
    if regions is None:
        regions = enumerate_region_data(weights, biases, lo, hi, A, b, tol, **kw)
    out = []
    for q in queries:
        c, alpha, beta = (tuple(q) + (None,) * 3)[:3]
        vals = _query_values(regions, c, alpha, beta)
        out.append(float(np.max(vals)) if vals.size else 0.0)
    return out


def lipschitz(weights, biases, lo=None, hi=None, A=None, b=None, c=None, alpha="inf", beta=None,
              tol=1e-9, regions=None, n_samples=4096, seed=0, layer_precheck=True,
              use_net_bounds=True, fast=True) -> OracleResult:
    """Exact local Lipschitz constant by region enumeration.

    c given: max_R ||J_R^T c||_{alpha*} (Lipschitz constant of c^T f w.r.t. the alpha-norm);
    else (beta required): max_R ||J_R||_{alpha->beta}.
    best_point is the Chebyshev centre of the maximising region intersected with the domain.
    Pass `regions` (from enumerate_region_data on the same net and domain) to skip enumeration.
    """
    if c is None and beta is None:
        raise ValueError("beta is required when no functional c is given")
    Ws, bs = as_net(weights, biases)
    d = Ws[0].shape[1]
    dom = _make_domain(d, lo, hi, A, b, tol)
    if regions is None:
        regions, _ = _enumerate(Ws, bs, dom, tol, n_samples, seed, layer_precheck, use_net_bounds, fast)
    vals = _query_values(regions, c, alpha, beta)
    i = int(np.argmax(vals))
    best = regions[i]
    G, h, _ = region_polytope(Ws, bs, best.pattern)
    if G.shape[0]:
        Gn, hn = _normalize_rows(G, h)
        GG, hh = np.vstack([dom.G, Gn]), np.concatenate([dom.h, hn])
    else:
        GG, hh = dom.G, dom.h
    t, x = _cheb_lp(GG, hh, dom.lo, dom.hi)
    point = x if (x is not None and t > 0) else best.point
    return OracleResult(float(vals[i]), len(regions), best.pattern, np.asarray(point, dtype=np.float64))
