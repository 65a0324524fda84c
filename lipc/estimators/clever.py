"""CLEVER (Weng et al. 2018): an extreme-value estimate of the local Lipschitz constant.

A HEURISTIC: the random points of the domain (as randomlb samples them) are split into batches;
each point's value is max over the vertices c of C of ||J(x)^T c||_alpha* (randomlb's gradient
machinery), each batch contributes its maximum, and a reverse Weibull distribution is fitted to
the batch maxima (scipy.stats.weibull_min on the negated maxima): the location parameter -loc,
the right end of the fitted distribution, is the estimate.  The fit is tried from several
initial shapes (as CLEVER's reference code), keeping the best Kolmogorov-Smirnov p-value; if it
fails, if the maxima are all equal, or if the fitted end lies more than SPREAD times the spread
of the maxima beyond their largest value, the sample maximum is reported.  Needs scipy (the
``estimators`` extra).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..compiler.pipeline import CompileOptions
from .l2 import require
from ..question.sampling import sample_domain
from .randomlb import gradients

GUARANTEE = "heuristic"
N_BATCHES = 50
SPREAD = 10.0


def reverse_weibull_max(maxima: np.ndarray, weibull_min) -> tuple[float | None, dict]:
    """(-loc of weibull_min fitted to -maxima, fit parameters), or (None, reason)."""
    m = np.asarray(maxima, dtype=np.float64)
    if m.size < 3 or np.ptp(m) <= 1e-12 * max(1.0, float(np.abs(m).max())):
        return None, {"fit": "skipped (maxima (nearly) all equal or too few)"}
    stats = require("scipy.stats", "clever")
    best = None
    for c_init in (0.1, 1.0, 5.0, 10.0, 20.0, 50.0, 100.0):     # as CLEVER's reference code
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                shape, loc, scale = weibull_min.fit(-m, c_init)
                ks = float(stats.kstest(-m, "weibull_min", args=(shape, loc, scale)).pvalue)
        except Exception:                      # noqa: BLE001  (any fit failure: next start)
            continue
        if all(np.isfinite([shape, loc, scale, ks])) and (best is None or ks > best[3]):
            best = (shape, loc, scale, ks)
    if best is None:
        return None, {"fit": "failed"}
    shape, loc, scale, ks = best
    # a right end far beyond the data (the MLE drifting on few distinct maxima) is a failure
    if -loc > m.max() + SPREAD * np.ptp(m):
        return None, {"fit": f"rejected (location {-loc:.6g} far beyond the maxima)"}
    return float(-loc), {"fit": "ok", "shape": float(shape), "loc": float(loc),
                         "scale": float(scale), "ks_pvalue": ks}


def clever(ctx) -> tuple[float, dict]:
    stats = require("scipy.stats", "clever")
    rng = np.random.default_rng(ctx.seed)
    p = ctx.problem(CompileOptions(bounds="interval", passes=False))
    seeds = ctx.query.output.vertices()
    if seeds is None:
        seeds = rng.choice([-1.0, 1.0], size=(256, ctx.query.output.m))
    X = sample_domain(ctx.domain, ctx.samples, rng)
    G = gradients(p, X, seeds)                                    # (k, N, d)
    norm = ctx.query.input_norm
    per_point = np.array([max(norm.dual(G[k, i]) for k in range(G.shape[0]))
                          for i in range(G.shape[1])])
    order = rng.permutation(per_point.size)
    nb = max(1, min(N_BATCHES, per_point.size // 5))
    maxima = np.array([per_point[b].max() for b in np.array_split(order, nb)])
    sample_max = float(per_point.max())
    est, info = reverse_weibull_max(maxima, stats.weibull_min)
    value = sample_max if est is None else max(est, sample_max)
    info.update(points=int(X.shape[0]), batches=int(nb), sample_max=sample_max,
                note="heuristic (CLEVER): not a certified bound")
    return value, info
