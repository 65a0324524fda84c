"""Input domains: parsing the user's spelling and checking the set is bounded and non-empty.

A domain is a :class:`~lipc.question.linear_set.LinearSet`: a box (what bound inference starts from) plus,
for the non-box kinds, linear rows (with auxiliary variables for the l1 ball).  The
specification strings are a table ``{kind: parser}``:

* ``box:LO:HI``                       LO, HI scalars, comma lists or ``.npy`` files
* ``linf:CENTER:RADIUS[:LO:HI]``      l_inf ball, optionally clipped to [LO, HI] (pixels in [0,1])
* ``l1:CENTER:RADIUS[:LO:HI]``        l_1 ball, optionally clipped to [LO, HI]
* ``polytope:A.npy,b.npy[:LO:HI]``    {x : A x <= b} (optionally within [LO, HI]); its box is
                                      computed by LP, so it must be bounded
* ``vnnlib:prop.vnnlib``              the input region of a VNN-LIB property file

From Python the same sets are built from arrays by ``Box``, ``LinfBall``, ``L1Ball`` and
``Polytope`` (no string is parsed back); ``domain_of`` takes either form.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from ..util.arrays import load_array
from ..errors import DomainError, ShapeError
from .linear_set import LinearSet, l1_ball
from ..util.capture import captured_stdout
from .chebyshev import deepest_point
from .vnnlib import read_vnnlib


class BallShape(NamedTuple):
    """What a ball domain was built from: its centre is where lipc.certify certifies."""

    kind: str                                       # "linf" or "l1"
    center: np.ndarray
    radius: np.ndarray                              # one entry per coordinate
    clip: tuple[np.ndarray, np.ndarray] | None


@dataclass
class Domain(LinearSet):
    description: str = ""
    # how a domain built from scalars only (lipc.Box(0, 1)) is rebuilt for the network's
    # number of inputs, which it does not know when it is made
    resize: Callable[[int], "Domain"] | None = field(default=None, repr=False, compare=False)
    ball: BallShape | None = field(default=None, repr=False, compare=False)   # a ball's own

    def fit(self, dim: int) -> "Domain":
        """This domain for a network with ``dim`` inputs (scalar-built domains broadcast)."""
        if self.dim == dim:
            return self
        if self.resize is not None:
            return check_domain(self.resize(dim))
        raise ShapeError(f"the domain has {self.dim} coordinates but the network has {dim} "
                         "inputs")

    @property
    def dim(self) -> int:
        return int(self.lo.shape[0])

    @property
    def center(self) -> np.ndarray:
        return (self.lo + self.hi) / 2


def parse_vector(text: str, dim: int, what: str, base: Path | None) -> np.ndarray:
    """A scalar (broadcast), a comma-separated list, or a .npy file holding ``dim`` numbers."""
    text = text.strip()
    if text.endswith(".npy") or text.endswith(".npz"):
        arr = load_array(_located(text, base), what, error=DomainError).ravel()
    else:
        try:
            arr = np.array([float(v) for v in text.split(",")], dtype=np.float64)
        except ValueError:
            raise DomainError(f"{what}: {text!r} is not a number, a comma-separated list of "
                              "numbers or a .npy file") from None
    if arr.size == 1:
        arr = np.full(dim, arr[0])
    if arr.size != dim:
        raise ShapeError(f"{what} has {arr.size} entries but the network has {dim} inputs")
    return arr


def _box(args: list[str], dim: int, base: Path | None) -> Domain:
    if len(args) != 2:
        raise DomainError("box domain is box:LO:HI (scalars, comma lists or .npy files)")
    lo = parse_vector(args[0], dim, "box lower bound", base)
    hi = parse_vector(args[1], dim, "box upper bound", base)
    return Domain(lo, hi, description=f"box [{args[0]}, {args[1]}]")


def _ball(kind: str):
    def parse(args: list[str], dim: int, base: Path | None) -> Domain:
        if len(args) not in (2, 4):
            raise DomainError(f"{kind} ball is {kind}:CENTER:RADIUS or {kind}:CENTER:RADIUS:LO:HI "
                              "(clipped to [LO, HI])")
        center = parse_vector(args[0], dim, "ball centre", base)
        if kind == "l1":
            try:
                radius = np.full(dim, float(args[1]))
            except ValueError:
                raise DomainError(f"l1 ball radius must be a number, not {args[1]!r}") from None
        else:
            radius = parse_vector(args[1], dim, "ball radius", base)
        clip = None
        desc = f"{'l_inf' if kind == 'linf' else 'l_1'} ball around {args[0]} of radius {args[1]}"
        if len(args) == 4:
            clip = (parse_vector(args[2], dim, "clip lower bound", base),
                    parse_vector(args[3], dim, "clip upper bound", base))
            desc += f" clipped to [{args[2]}, {args[3]}]"
        return ball_domain(kind, center, radius, clip, desc)
    return parse


def ball_domain(kind: str, center: np.ndarray, radius: np.ndarray,
                clip: tuple[np.ndarray, np.ndarray] | None, desc: str) -> Domain:
    """The ``kind`` ("linf" / "l1") ball around ``center`` (float64 vectors of one length; an
    l1 radius is one number repeated), intersected with the box ``clip`` when given."""
    if np.any(radius < 0):
        raise DomainError("ball radius must be non-negative")
    lo, hi = center - radius, center + radius
    if clip is not None:
        lo, hi = np.maximum(lo, clip[0]), np.minimum(hi, clip[1])
    shape = BallShape(kind, center, radius, clip)
    if kind == "linf":
        return Domain(lo, hi, description=desc, ball=shape)
    ball = l1_ball(center, float(radius[0]), lo, hi)
    return Domain(**vars(ball), description=desc, ball=shape)


def _polytope(args: list[str], dim: int, base: Path | None) -> Domain:
    if len(args) not in (1, 3) or "," not in args[0]:
        raise DomainError("polytope domain is polytope:A.npy,b.npy or polytope:A.npy,b.npy:LO:HI")
    a_path, b_path = args[0].split(",", 1)
    A = _matrix(a_path, base, "polytope matrix A")
    b = _matrix(b_path, base, "polytope right-hand side b").ravel()
    clip = None
    if len(args) == 3:
        clip = (parse_vector(args[1], dim, "clip lower bound", base),
                parse_vector(args[2], dim, "clip upper bound", base))
    return polytope_domain(A, b, dim, clip, f"polytope {{x : A x <= b}} from {args[0]}")


def polytope_domain(A: np.ndarray, b: np.ndarray, dim: int,
                    clip: tuple[np.ndarray, np.ndarray] | None, desc: str) -> Domain:
    """{x : A x <= b} (within the box ``clip`` when given), its rows normalised and its
    bounding box computed by LP."""
    if A.ndim != 2 or A.shape[1] != dim:
        raise ShapeError(f"polytope matrix A has shape {A.shape}; the network has {dim} inputs")
    if A.shape[0] != b.size:
        raise ShapeError(f"polytope: A has {A.shape[0]} rows but b has {b.size} entries")
    lo, hi = clip if clip is not None else (np.full(dim, -np.inf), np.full(dim, np.inf))
    A, b = normalised_rows(A, b, "polytope")
    lo, hi = polytope_box(A, b, lo, hi)
    return Domain(lo, hi, A=A, B=None, r_lo=np.full(b.size, -np.inf), r_hi=b, description=desc)


# A row a.x <= b is stored scaled to max|a| = 1, so that the interior test, the bounding-box LPs
# and the MIP see unit-scale rows (a row of 1e20s is as good as a row of 1s).  What remains
# after scaling must be representable: within one row, coefficients spanning more than
# MAX_ROW_RANGE (1e300 next to 1) lose the small ones in any solver, and a right-hand side beyond
# MAX_ROW_RHS sits where solvers treat numbers as infinite (CBC aborts on such input).
MAX_ROW_RANGE = 1e12
MAX_ROW_RHS = 1e12


def normalised_rows(A: np.ndarray, b: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with each row scaled to max |a_ij| = 1; refuses zero rows (vacuous or empty) and
    rows no MIP solver represents faithfully."""
    scale = np.max(np.abs(A), axis=1) if A.size else np.zeros(A.shape[0])
    for i in np.flatnonzero(scale == 0):
        raise DomainError(f"{what}: row {i} of A is zero, so the row is "
                          + ("never true: the domain is empty" if b[i] < 0 else "vacuous")
                          + "; remove it")
    A, b = A / scale[:, None], b / scale
    for i, row in enumerate(np.abs(A)):
        small = row[row > 0].min()
        if small < 1 / MAX_ROW_RANGE:
            raise DomainError(f"{what}: row {i} of A mixes coefficients {scale[i]:.3g} and "
                              f"{small * scale[i]:.3g}, a range over {MAX_ROW_RANGE:.0e} that no "
                              "MIP solver represents faithfully; rescale the inputs")
        if abs(b[i]) > MAX_ROW_RHS:
            raise DomainError(f"{what}: row {i} (scaled to unit coefficients) has right-hand side "
                              f"{b[i]:.3g}, beyond {MAX_ROW_RHS:.0e} where MIP solvers treat "
                              "numbers as infinite; drop the row or rescale the inputs")
    return A, b


def _located(text: str, base: Path | None) -> Path:
    """A path as given, or relative to ``base`` (the folder of the file that named it)."""
    path = Path(text.strip())
    if base is not None and not path.is_absolute() and not path.exists():
        path = base / path
    return path


def _matrix(text: str, base: Path | None, what: str) -> np.ndarray:
    return load_array(_located(text, base), what, error=DomainError)


def polytope_box(A: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """The bounding box of {x : A x <= b, lo <= x <= hi} by 2d LPs, widened by a safety margin
    (LP optima are tolerance-accurate; the box becomes big-M constants)."""
    import mip

    d = A.shape[1]
    m = mip.Model(solver_name=mip.CBC)
    m.verbose = 0
    xs = [m.add_var(lb=float(l) if np.isfinite(l) else -mip.INF,
                    ub=float(h) if np.isfinite(h) else mip.INF) for l, h in zip(lo, hi)]
    for i in range(A.shape[0]):
        nz = np.flatnonzero(A[i])
        m.add_constr(mip.LinExpr([xs[j] for j in nz], A[i, nz].tolist()) <= float(b[i]))
    out_lo, out_hi = np.empty(d), np.empty(d)
    for j in range(d):
        for sense, out in ((mip.MINIMIZE, out_lo), (mip.MAXIMIZE, out_hi)):
            m.objective = mip.LinExpr([xs[j]], [1.0])
            m.sense = sense
            with captured_stdout(lambda line: None):
                st = m.optimize()
            if st == mip.OptimizationStatus.INFEASIBLE:
                raise DomainError("polytope domain is empty: {x : A x <= b} has no point")
            if st != mip.OptimizationStatus.OPTIMAL:
                raise DomainError(f"polytope domain is unbounded along input {j}; add bounds "
                                  "(polytope:A.npy,b.npy:LO:HI) or more rows")
            out[j] = m.objective_value
    margin = 1e-7 * (1.0 + np.maximum(np.abs(out_lo), np.abs(out_hi)))
    return np.maximum(out_lo - margin, lo), np.minimum(out_hi + margin, hi)


def _vnnlib(args: list[str], dim: int, base: Path | None) -> Domain:
    path = Path(":".join(args))
    if base is not None and not path.is_absolute() and not path.exists():
        path = base / path
    lo, hi, A, b = read_vnnlib(path, dim)
    desc = f"VNN-LIB region of {path.name}"
    if A is None:
        return Domain(lo, hi, description=desc)
    A, b = normalised_rows(A, b, desc)
    lo, hi = polytope_box(A, b, lo, hi)
    return Domain(lo, hi, A=A, B=None, r_lo=np.full(b.size, -np.inf), r_hi=b, description=desc)


DOMAIN_KINDS: dict[str, Callable[[list[str], int, Path | None], Domain]] = {
    "box": _box,
    "linf": _ball("linf"),
    "l1": _ball("l1"),
    "polytope": _polytope,
    "vnnlib": _vnnlib,
}
_KIND_ALIASES = {"box": "box", "linf": "linf", "inf": "linf", "l_inf": "linf", "ball": "linf",
                 "l1": "l1", "l_1": "l1", "polytope": "polytope", "poly": "polytope",
                 "vnnlib": "vnnlib"}


def parse_domain(spec: str, dim: int, base: Path | None = None) -> Domain:
    """Parse a domain specification for a network with ``dim`` inputs and validate it."""
    kind, _, rest = spec.partition(":")
    key = _KIND_ALIASES.get(kind.strip().lower())
    if key is None or not rest:
        raise DomainError(f"unknown domain {spec!r}; use box:LO:HI, linf:CENTER:RADIUS[:LO:HI], "
                          "l1:CENTER:RADIUS[:LO:HI], polytope:A.npy,b.npy[:LO:HI] or "
                          "vnnlib:FILE")
    return check_domain(DOMAIN_KINDS[key](rest.split(":"), dim, base))


def domain_of(domain: "Domain | str", dim: int, base: Path | None = None) -> Domain:
    """The domain of a question about a ``dim``-input network: a spec string is parsed, a
    Domain object (lipc.Box, LinfBall, L1Ball, Polytope) fitted to ``dim``."""
    if isinstance(domain, str):
        return parse_domain(domain, dim, base)
    if isinstance(domain, Domain):
        return domain.fit(dim)
    raise DomainError(f"a domain is a spec string (box:0:1) or a lipc.Box / LinfBall / L1Ball / "
                      f"Polytope, not a {type(domain).__name__}")


def vector_of(value, dim: int, what: str) -> np.ndarray:
    """A float64 vector of ``dim`` entries from a scalar (broadcast) or an array."""
    try:
        arr = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise DomainError(f"{what} must be a number or an array of numbers") from None
    if arr.size == 1:
        return np.full(dim, arr[0])
    if arr.size != dim:
        raise ShapeError(f"{what} has {arr.size} entries but the network has {dim} inputs")
    return arr


def _text(value) -> str:
    arr = np.asarray(value, dtype=np.float64)
    return repr(float(arr.ravel()[0])) if arr.size == 1 else f"array[{arr.size}]"


def _clip(clip, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    if clip is None:
        return None
    if len(clip) != 2:
        raise DomainError("clip is a pair (lo, hi) of numbers or arrays")
    return (vector_of(clip[0], dim, "clip lower bound"),
            vector_of(clip[1], dim, "clip upper bound"))


def _sized(build: Callable[[int], Domain], *values) -> Domain:
    """``build`` at the size the array arguments give; when all are scalars, at size 1 and
    rebuilt for the network's input count when used (``Domain.fit``)."""
    sizes = {np.size(v) for v in values if v is not None and np.size(v) != 1}
    if len(sizes) > 1:
        raise ShapeError(f"domain arrays of different lengths {sorted(sizes)}")
    if sizes:
        return check_domain(build(sizes.pop()))
    d = check_domain(build(1))
    d.resize = build
    return d


def _box_at(lo, hi, n: int) -> Domain:
    return Domain(vector_of(lo, n, "box lower bound"), vector_of(hi, n, "box upper bound"),
                  description=f"box [{_text(lo)}, {_text(hi)}]")


def _ball_at(kind: str, center, radius, clip, n: int) -> Domain:
    name = "l_inf" if kind == "linf" else "l_1"
    desc = f"{name} ball around {_text(center)} of radius {_text(radius)}"
    if clip is not None:
        desc += f" clipped to [{_text(clip[0])}, {_text(clip[1])}]"
    return ball_domain(kind, vector_of(center, n, "ball centre"),
                       vector_of(radius, n, "ball radius"),
                       _clip(clip, n), desc)


# the builders are module-level partials, not lambdas, so a domain object pickles (worker pools)
def Box(lo, hi) -> Domain:
    """The box [lo, hi] (numbers or arrays)."""
    return _sized(partial(_box_at, lo, hi), lo, hi)


def LinfBall(center, radius, clip=(0.0, 1.0)) -> Domain:
    """{x : ||x - center||_inf <= radius} within the box ``clip`` (default [0, 1], pixels;
    None for no clipping); radius a number or one per coordinate."""
    return _sized(partial(_ball_at, "linf", center, radius, clip), center, radius,
                  *(() if clip is None else clip))


def L1Ball(center, radius: float, clip=None) -> Domain:
    """{x : ||x - center||_1 <= radius}, within the box ``clip`` when given."""
    if np.size(radius) != 1:
        raise DomainError("an l1 ball's radius is one number")
    return _sized(partial(_ball_at, "l1", center, radius, clip), center,
                  *(() if clip is None else clip))


def Polytope(A, b, clip=None) -> Domain:
    """{x : A x <= b} (A of shape [rows, inputs]), within the box ``clip`` when given; it must
    be bounded (its bounding box is computed by LP)."""
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    b = np.asarray(b, dtype=np.float64).ravel()
    n = A.shape[1]
    return check_domain(polytope_domain(A, b, n, _clip(clip, n),
                                        f"polytope {{x : A x <= b}} ({A.shape[0]} rows)"))


def box_domain(lo, hi, dim: int | None = None) -> Domain:
    """A box from arrays or scalars (Python API); ``dim`` fits it to that many inputs."""
    d = Box(lo, hi)
    return d if dim is None else d.fit(dim)


def _verified_radius(d: Domain, x: np.ndarray) -> float:
    """The radius of the largest ball around ``x`` inside ``d`` (rows A x <= r_hi, no auxiliary
    variables), recomputed in float64: the LP's own claim is only tolerance-accurate (CBC called
    a 4e-7 ball inside a set of width 0)."""
    x = np.asarray(x, dtype=np.float64)
    slack = [x - d.lo, d.hi - x]
    norms = np.linalg.norm(d.A, axis=1)
    for r, sign in ((d.r_hi, 1.0), (d.r_lo, -1.0)):
        keep = np.isfinite(r)
        slack.append(sign * (r[keep] - d.A[keep] @ x) / norms[keep])
    return float(min(np.min(s) for s in slack if s.size))


# A box side narrower than MIN_WIDTH relative to its own bounds cannot be told from a point in
# float64 arithmetic; one narrower than MIN_ABS_WIDTH underflows the certificate's products
# (box:0:5e-324 gave a NaN bound).  Relative, not to 1: a box of width 1e-12 around 0 is a
# legitimate question (issue 15's edge cases) and is answered exactly.
MIN_WIDTH = 1e-12
MIN_ABS_WIDTH = 1e-100


def check_domain(d: Domain) -> Domain:
    """Refuse domains on which a Lipschitz query is meaningless or unbounded."""
    if np.any(np.isnan(d.lo)) or np.any(np.isnan(d.hi)):
        raise DomainError("domain bounds contain NaN")
    if np.any(~np.isfinite(d.lo)) or np.any(~np.isfinite(d.hi)):
        raise DomainError("domain is unbounded (infinite bound); a MIP needs a bounded domain")
    empty = np.flatnonzero(d.lo > d.hi)
    if empty.size:
        i = int(empty[0])
        raise DomainError(f"domain is empty: coordinate {i} has lower bound {float(d.lo[i])!r} "
                          f"above upper bound {float(d.hi[i])!r}")
    width = d.hi - d.lo
    flat = np.flatnonzero((width <= MIN_WIDTH * np.maximum(abs(d.lo), abs(d.hi)))
                          | (width < MIN_ABS_WIDTH))
    if flat.size:
        i = int(flat[0])
        raise DomainError(f"domain has (numerically) empty interior: coordinate {i} spans "
                          f"[{float(d.lo[i])!r}, {float(d.hi[i])!r}], narrower than "
                          f"{MIN_WIDTH:.0e} of its own scale or than {MIN_ABS_WIDTH:.0e} (a "
                          "local Lipschitz constant needs an open region; give it a width)")
    if d.n_rows:
        x, radius = deepest_point(np.zeros((0, d.dim)), np.zeros(0), d)
        if radius > 0 and not d.n_aux:
            radius = min(radius, _verified_radius(d, x))
        if not radius > 0:
            raise DomainError(f"domain {d.description or ''} has an empty interior (no ball fits "
                              "inside it): a local Lipschitz constant needs an open region")
    return d
