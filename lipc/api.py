"""The Python API: load a network, compile a Lipschitz query, write it or solve it.

    import lipc
    net = lipc.load("examples/classifier_4_16_16_3.onnx")
    res = lipc.solve(net, domain="linf:examples/x0_4.npy:0.1", output="0-1", input_norm="linf")
    print(res.value, res.lower, res.upper)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cbc import SolveOptions, solve_cbc
from .compiler import CompileOptions, Problem, build_problem, lower_problem
from .domain import Domain, parse_domain
from .errors import LipcError, SolverError
from .lower import Lowered
from .network import Network
from .onnx_frontend import load_onnx
from .query import Query
from .witness import Witness, verify

FRONTENDS = {".onnx": load_onnx}

# relative disagreement tolerated between the solver's optimum and the verified value
AGREEMENT = 1e-6


def load(path: str | Path) -> Network:
    """Load a network file by its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FRONTENDS:
        raise LipcError(f"cannot load {path}: unknown model format {suffix!r}; "
                        f"supported: {', '.join(FRONTENDS)}")
    return FRONTENDS[suffix](path)


def _network(net: Network | str | Path) -> Network:
    return net if isinstance(net, Network) else load(net)


def problem(net: Network | str | Path, domain: Domain | str, output: str | None = None,
            input_norm: str = "linf", compile_options: CompileOptions | None = None,
            output_norm: str | None = None) -> Problem:
    """Build and annotate the IR of a Lipschitz query (nothing lowered yet).

    ``output`` selects one scalar function <c, f>; ``output_norm`` instead asks for the
    Lipschitz constant of the vector f under that norm (linf, l1, margin, margin:T).
    """
    network = _network(net)
    dom = domain if isinstance(domain, Domain) else parse_domain(domain, network.n_inputs)
    query = Query.make(network.n_inputs, network.n_outputs, output, input_norm, output_norm,
                       center_output=lambda: network.reference(dom.center[None, :])[0])
    return build_problem(network, dom, query, compile_options)


def compile(net: Network | str | Path, domain: Domain | str, output: str | None = None,
            input_norm: str = "linf", out: str | Path | None = None,
            compile_options: CompileOptions | None = None,
            output_norm: str | None = None) -> tuple[Problem, Lowered]:
    """Compile a query to a flat MIP; with ``out``, also write it (format from the suffix)."""
    p = problem(net, domain, output, input_norm, compile_options, output_norm)
    low = lower_problem(p)
    if out is not None:
        from .emit import write
        write(low.mip, out)
    return p, low


@dataclass
class LipschitzResult:
    """A Lipschitz constant as a certified interval: never a bare number.

    ``value`` is set only when the solve proved optimality *and* the verified lower bound
    agrees with the solver's optimum; otherwise read ``lower`` and ``upper``.
    """

    status: str
    value: float | None
    lower: float | None           # verified: a true gradient norm at an interior point
    upper: float | None           # the solver's dual bound (valid up to its tolerances)
    incumbent: float | None       # the solver's own objective value
    gap: float | None
    seconds: float
    nodes: int | None
    solver: str
    input_norm: str
    output: str                   # the functional c, or the output norm
    domain: str
    stats: dict = field(default_factory=dict)
    witness: Witness | None = None
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _describe_output(p: Problem) -> str:
    out = p.query.output
    if out.fixed is not None:
        return f"<c, f> with c = {out.fixed.tolist()}"
    return f"f under the {out.name} output norm"


def _relative_gap(lo: float | None, hi: float | None) -> float | None:
    if lo is None or hi is None:
        return None
    return max(0.0, hi - lo) / max(abs(hi), 1e-12)


def solve(net: Network | str | Path, domain: Domain | str, output: str | None = None,
          input_norm: str = "linf", options: SolveOptions | None = None,
          compile_options: CompileOptions | None = None,
          output_norm: str | None = None) -> LipschitzResult:
    """Compute the local Lipschitz constant with CBC and verify the witness."""
    opts = options or SolveOptions()
    p, low = compile(net, domain, output, input_norm, compile_options=compile_options,
                     output_norm=output_norm)
    outcome = solve_cbc(low.mip, opts)
    if outcome.status in ("infeasible", "unbounded"):
        raise SolverError(
            f"CBC declared the Lipschitz MIP {outcome.status}, which is impossible (every "
            "point of the domain is feasible and the objective is bounded): a numerical "
            "failure of the solver; try another time limit or report the model")
    witness = verify(p, low, outcome.x) if outcome.x is not None else None
    lower = witness.value if witness is not None else None
    upper = outcome.bound
    status, message = outcome.status, ""
    value = None
    if status == "optimal":
        if lower is not None and abs(lower - outcome.incumbent) <= AGREEMENT * max(1.0, abs(lower)):
            value = lower
            upper = max(upper, lower)
        else:
            status = "unverified"
            message = ("the solver's optimum could not be reproduced on the original network "
                       f"(verified {lower}, solver {outcome.incumbent}); reporting the interval")
    if upper is not None and lower is not None and upper < lower:
        upper = lower
    mip = low.mip
    stats = dict(p.stats(), columns=mip.n_cols, rows=mip.n_rows, nonzeros=mip.nnz,
                 binaries=mip.meta["binaries"], max_big_m=mip.meta["max_big_m"],
                 timings={k: round(v, 6) for k, v in p.timings.items()})
    return LipschitzResult(status, value, lower, upper, outcome.incumbent,
                           _relative_gap(lower, upper), outcome.seconds, outcome.nodes,
                           outcome.solver, p.query.input_norm.name, _describe_output(p),
                           p.domain.description, stats, witness, message)
