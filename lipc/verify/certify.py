"""Certified robustness radius of a classifier at a point, from exact local Lipschitz constants.

For the class y predicted at the centre x0 of a ball B and every other class j, the margin
g_j = f_y - f_j satisfies g_j(x) >= g_j(x0) - L_j ||x - x0|| on B (B is convex), with L_j the
local Lipschitz constant of g_j over B.  So the class stays y at every x of B with
||x - x0|| < m_j / L_j for all j, where m_j is a *certified lower bound* of g_j(x0) and L_j is
replaced by the solver's upper bound (lipc.solve).  The radius is capped by the largest ball of
the input norm that fits in B, since L_j says nothing outside B.

Statuses (the radius is always a valid certificate; the status says how good it is):
  certified          every L_j was proved optimal: the radius is the one of the exact constants
  certified_partial  some L_j are only bounded (time limit, unverified, ...): the radius uses
                     their upper bounds, valid but possibly smaller; ``unproved`` lists them
  not_robust         some margin is not certifiably positive at x0 (a tie, or a tie within
                     float64 rounding): the radius is 0 and no constant is computed
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from ..bounds.interval import infer_interval
from ..compiler.pipeline import CompileOptions, copy_graph
from ..core.ir import Bounds
from ..core.network import Network
from ..errors import DomainError, NumericError, QueryError
from ..frontends import network_of
from ..question.domain import Domain, check_domain, parse_vector
from ..question.linear_set import l1_ball
from ..question.norms import parse_input_norm
from ..question.question import Question
from ..solvers import SolveOptions
from .settle import solve

# largest radius rho of the input-norm ball that fits in a ball of the domain's kind and radius r:
# (ball kind, input norm) -> rho / r as a function of the dimension d
_FIT: dict[tuple[str, str], Callable[[int], float]] = {
    ("linf", "linf"): lambda d: 1.0,
    ("l1", "l1"): lambda d: 1.0,
    ("linf", "l1"): lambda d: 1.0,       # ||v||_inf <= ||v||_1
    ("l1", "linf"): lambda d: 1.0 / d,   # ||v||_1 <= d ||v||_inf
}
_BALL_NAMES = {"linf": "linf", "inf": "linf", "l_inf": "linf", "ball": "linf",
               "l1": "l1", "l_1": "l1"}


@dataclass
class Ball:
    """An l_inf or l_1 ball around ``center`` of radius ``radius``, optionally clipped to
    [lo, hi] (e.g. pixels in [0, 1]); with clipping the radius certifies the clipped points."""

    kind: str                       # "linf" or "l1"
    center: np.ndarray
    radius: float
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    description: str = ""

    def domain(self) -> Domain:
        c, r = self.center, self.radius
        lo = c - r if self.lo is None else np.maximum(c - r, self.lo)
        hi = c + r if self.hi is None else np.minimum(c + r, self.hi)
        desc = self.description or f"{self.kind} ball of radius {r!r}"
        if self.kind == "linf":
            return check_domain(Domain(lo, hi, description=desc))
        return check_domain(Domain(**vars(l1_ball(c, r, lo, hi)), description=desc))


def parse_ball(spec: str, dim: int) -> Ball:
    """``linf:CENTER:RADIUS[:LO:HI]`` or ``l1:...`` (the domain spellings that have a centre)."""
    kind, _, rest = spec.partition(":")
    key = _BALL_NAMES.get(kind.strip().lower())
    if key is None or not rest:
        raise DomainError(f"certify needs a ball with a centre: linf:CENTER:RADIUS[:LO:HI] or "
                          f"l1:CENTER:RADIUS[:LO:HI], not {spec!r} (a box or polytope has no "
                          "centre to certify)")
    args = rest.split(":")
    if len(args) not in (2, 4):
        raise DomainError(f"{key} ball is {key}:CENTER:RADIUS or {key}:CENTER:RADIUS:LO:HI")
    center = parse_vector(args[0], dim, "ball centre", None)
    radius = parse_vector(args[1], dim, "ball radius", None)
    if np.ptp(radius) != 0:
        raise DomainError("certify needs one ball radius, not one per coordinate")
    clip = [parse_vector(a, dim, f"clip {w} bound", None) for a, w in zip(args[2:], ("lower", "upper"))]
    desc = f"{key} ball around {args[0]} of radius {args[1]}" + (
        f" clipped to [{args[2]}, {args[3]}]" if clip else "")
    return Ball(key, center, float(radius[0]), *(clip or [None, None]), description=desc)


def _check_ball(ball: Ball, dim: int) -> None:
    if ball.kind not in ("linf", "l1"):
        raise DomainError(f"unknown ball kind {ball.kind!r}; use linf or l1")
    if ball.center.shape != (dim,):
        raise DomainError(f"the ball centre has shape {ball.center.shape}; the network has "
                          f"{dim} inputs")
    if not np.all(np.isfinite(ball.center)):
        raise DomainError("the ball centre contains NaN or infinite values")
    if not (math.isfinite(ball.radius) and ball.radius > 0):
        raise DomainError(f"the ball radius must be positive and finite, not {ball.radius!r}")
    outside = (ball.lo is not None and np.any(ball.center < ball.lo)) or \
              (ball.hi is not None and np.any(ball.center > ball.hi))
    if outside:
        raise DomainError("the ball centre lies outside the clip bounds [LO, HI]: the margin "
                          "at the centre says nothing about the clipped region")


def point_enclosure(network: Network, x0: np.ndarray) -> Bounds:
    """Rigorous bounds of the network's outputs at x0: interval arithmetic on the IR at a
    degenerate box, each affine widened by its float64 rounding error (lipc.bounds)."""
    graph = copy_graph(network.graph)
    graph.bounds[network.input] = Bounds(x0.copy(), x0.copy(), "point")
    infer_interval(graph)
    return graph.bounds[network.output]


def _margins(network: Network, x0: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(predicted class on the original model, certified lower bounds of f_y - f_j at x0,
    the original model's outputs).  The IR enclosure must contain the reference values up to a
    scale-relative tolerance: otherwise the IR is not the model and no margin is trusted."""
    ref = np.asarray(network.reference(x0[None, :]), dtype=np.float64)[0]
    if not np.all(np.isfinite(ref)):
        raise NumericError("the network's outputs at the ball centre are not finite")
    enc = point_enclosure(network, x0)
    tol = 1e-6 * max(np.max(np.abs(ref)), np.max(np.abs(enc.lo)), np.max(np.abs(enc.hi)))
    if np.any(ref < enc.lo - tol) or np.any(ref > enc.hi + tol):
        raise NumericError("the compiled network and the original model disagree at the ball "
                           f"centre (model {ref.tolist()}, compiled [{enc.lo.tolist()}, "
                           f"{enc.hi.tolist()}]): no margin can be certified")
    y = int(np.argmax(ref))
    # lo_y - hi_j rounded to nearest is within half an ulp: one step down makes it a lower bound
    margin = np.nextafter(enc.lo[y] - enc.hi, -np.inf)
    return y, margin, ref


@dataclass
class ClassRow:
    """The margin to one other class and the Lipschitz constant of f_y - f_j over the ball."""

    cls: int
    margin: float                   # certified lower bound of f_y(x0) - f_j(x0)
    lower: float | None             # L_j: verified lower bound
    upper: float | None             # L_j: solver's upper bound (what the radius uses)
    status: str                     # lipc.solve's status for L_j, or "skipped"
    radius: float | None            # margin / upper (inf for a constant margin); None: skipped
    seconds: float = 0.0
    solver: str | None = None       # the back end that answered (None: skipped)


@dataclass
class CertifyResult:
    """A certified robustness radius: for every x in the domain with ||x - x0|| < radius (in
    ``input_norm``), argmax f(x) = ``predicted``."""

    status: str
    radius: float
    predicted: int
    ball_radius: float              # r of the domain ball
    cap: float                      # the largest input-norm radius inside the ball
    input_norm: str
    domain: str
    seconds: float
    outputs: list[float]            # f(x0) on the original model
    classes: list[ClassRow] = field(default_factory=list)
    unproved: list[int] = field(default_factory=list)
    message: str = ""
    # how the constants were compiled: formulation, bounds option, bound analyses that ran
    compiled: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain JSON types; an unbounded per-class radius (constant margin) is the string
        "inf" (JSON has no infinity)."""
        d = asdict(self)
        for row in d["classes"]:
            if row["radius"] == math.inf:
                row["radius"] = "inf"
        return d


def _budget(options: SolveOptions, deadline: float | None, left: int) -> SolveOptions:
    """Each remaining constant gets an equal share of the time that is left."""
    if deadline is None:
        return options
    return replace(options, time_limit=max(1e-3, (deadline - time.monotonic()) / left))


def _row(j: int, margin: float, res) -> ClassRow:
    upper = res.upper
    if upper is None:
        radius = 0.0                    # no upper bound on L_j: nothing beyond x0 is certified
    elif upper <= 0:
        radius = math.inf               # f_y - f_j is constant on the ball
    else:
        radius = float(margin / np.nextafter(upper, np.inf))
        radius = float(np.nextafter(radius, 0.0))
    return ClassRow(j, float(margin), res.lower, upper, res.status, radius, res.seconds,
                    res.solver)


def ball_of(domain: Domain, dim: int) -> Ball:
    """The Ball of a domain object built as a ball (lipc.LinfBall, lipc.L1Ball) for a
    ``dim``-input network: its centre, one radius and its clip box."""
    shape = domain.fit(dim).ball
    if shape is None:
        raise DomainError(f"certify needs a ball with a centre (lipc.LinfBall or lipc.L1Ball), "
                          f"not the {domain.description or 'domain given'}")
    if np.ptp(shape.radius) != 0:
        raise DomainError("certify needs one ball radius, not one per coordinate")
    lo, hi = shape.clip if shape.clip is not None else (None, None)
    return Ball(shape.kind, shape.center, float(shape.radius[0]), lo, hi, domain.description)


# how certify reads its domain argument: a Ball as it is, a domain object by its ball, a spec
_BALL_READERS: dict[type, Callable[[object, int], Ball]] = {
    Ball: lambda ball, dim: ball, Domain: ball_of, str: parse_ball}


def certify(net: Network | str, domain: Ball | Domain | str, *,
            input_norm: str | None = None, options: SolveOptions | None = None,
            compile_options: CompileOptions | None = None) -> CertifyResult:
    """The certified robustness radius at the centre of ``domain`` (a Ball, a ball built by
    lipc.LinfBall / lipc.L1Ball, or a linf:/l1: spec), w.r.t. ``input_norm`` (default: the
    ball's own norm).  ``options.time_limit`` is the budget of the whole certification, shared
    among the per-class constants."""
    t0 = time.monotonic()
    network = network_of(net)
    dim = network.n_inputs
    read = next((f for t, f in _BALL_READERS.items() if isinstance(domain, t)), None)
    if read is None:
        raise DomainError(f"certify's domain is a ball (lipc.LinfBall, lipc.L1Ball, "
                          f"lipc.Ball or a linf:/l1: spec), not a {type(domain).__name__}")
    ball = read(domain, dim)
    _check_ball(ball, dim)
    dom = ball.domain()
    norm = parse_input_norm(input_norm or ball.kind).name
    if (ball.kind, norm) not in _FIT:
        raise QueryError(f"certify supports the input norms linf and l1, not {norm!r}")
    if network.n_outputs < 2:
        raise QueryError("certify needs a classifier with at least two outputs")
    cap = ball.radius * _FIT[ball.kind, norm](dim)
    y, margins, ref = _margins(network, ball.center)
    others = [j for j in range(network.n_outputs) if j != y]

    def done(status: str, radius: float, rows: list[ClassRow], unproved=(), message="",
             compiled=None):
        return CertifyResult(status, radius, y, ball.radius, cap, norm, dom.description,
                             time.monotonic() - t0, ref.tolist(), rows, list(unproved), message,
                             compiled or {})

    tied = [j for j in others if not margins[j] > 0]
    if tied:
        rows = [ClassRow(j, float(margins[j]), None, None, "skipped",
                         0.0 if j in tied else None) for j in others]
        return done("not_robust", 0.0, rows, message=f"the margin to class"
                    f"{'es' if len(tied) > 1 else ''} {', '.join(map(str, tied))} is not "
                    "certifiably positive at the centre")
    opts = options or SolveOptions()
    deadline = None if opts.time_limit is None else t0 + opts.time_limit
    rows, stats = [], []
    for k, j in enumerate(others):
        res = solve(network, Question(dom, f"{y}-{j}", input_norm=norm),
                    _budget(opts, deadline, len(others) - k), compile_options=compile_options)
        rows.append(_row(j, margins[j], res))
        stats.append(res.stats)
    compiled = {k: stats[0][k] for k in ("formulation", "bounds")}
    compiled["bound_sources"] = sorted({b for s in stats for b in s["bound_sources"]})
    unproved = [r.cls for r in rows if r.status != "optimal"]
    radius = min([cap] + [r.radius for r in rows])
    if unproved:
        many = len(unproved) > 1
        return done("certified_partial", radius, rows, unproved, "not proved optimal: the "
                    f"constant{'s' if many else ''} to class{'es' if many else ''} "
                    f"{', '.join(map(str, unproved))}; their upper bounds give the radius",
                    compiled)
    return done("certified", radius, rows, compiled=compiled)
