"""lipc programs → IR: the builder interpreter, statements, queries and their networks.

Symbolic vectors are kept as *affine forms* (:class:`Lin`: a sum of weight matrices applied to
IR nodes, plus a bias) and become an ``Affine`` node only when a nonlinearity, an ONNX call or a
query needs a node.  So ``relu(W @ x + b)`` is exactly one affine, one conditional and one switch,
as an ONNX Gemm + Relu is, and chains of affine operations (indexing, sums, scalings) fold into
one node.  abs and max are the compositions of lipc.question.norms (abs_node, max_node), elementwise
max(a, b) = b + relu(a - b).

A program becomes one IR graph; each query (and the ``output`` statement) gets a
:class:`~lipc.core.network.Network` on the part of the graph its expression needs, whose
``reference`` evaluates the program text with numpy (lipc.frontends.dsl.eval.Reference), not the IR.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from lark import Tree

from ...question.domain import (Domain, ball_domain, check_domain, parse_domain, polytope_domain,
                                vector_of)
from .eval import (BUILTINS, DOMAIN_KINDS, DomainSpec, Evaluation, Func, Interpreter, Sym,
                   describe, is_const, names_used, string_literal)
from .parse import Source, located, parse
from ...errors import DomainError, DSLError, DSLNameError, DSLShapeError, ModelError
from ...core.ir import Affine, Conditional, Const, Input, IRGraph, Switch, Term, relu
from ...core.network import Network
from ...util.compressed import read_maybe_gzip
from ...question.norms import abs_node, max_node, parse_input_norm
from ...question.outputs import parse_output_norm
from ...question.question import Question


# An input's entries are MIP columns (twice: forward and backward pass); a million is far past
# any exact solve and keeps a typo such as x[1000000000] from allocating gigabytes first.
MAX_INPUT_SIZE = 1_000_000
MAX_PROGRAM_BYTES = 2 ** 28     # inflated size of a .lipc.gz program


# ---------------------------------------------------------------------- affine forms

def _dense(w: np.ndarray) -> np.ndarray:
    return np.diag(w) if w.ndim == 1 else w


@dataclass(eq=False)
class Lin(Sym):
    """sum_k W_k @ node_k + bias, not yet an IR node (``node`` caches its materialisation)."""

    terms: dict            # IR node -> weight: 2-D (n, size(node)) or 1-D (a diagonal)
    bias: np.ndarray
    node: str | None = None

    @property
    def size(self) -> int:
        return int(self.bias.size)

    @classmethod
    def of(cls, node: str, size: int) -> "Lin":
        return cls({node: np.ones(size)}, np.zeros(size), node)

    @classmethod
    def const(cls, c: np.ndarray) -> "Lin":
        return cls({}, np.atleast_1d(np.asarray(c, dtype=np.float64)).copy())

    def map(self, W: np.ndarray) -> "Lin":
        """W @ self for a 2-D W."""
        terms = {s: (W * w[None, :] if w.ndim == 1 else W @ w) for s, w in self.terms.items()}
        return Lin(terms, W @ self.bias)

    def scale(self, d: np.ndarray) -> "Lin":
        """diag(d) @ self for a vector d of the same size."""
        terms = {s: (d * w if w.ndim == 1 else d[:, None] * w) for s, w in self.terms.items()}
        return Lin(terms, d * self.bias)

    def widen(self, n: int) -> "Lin":
        """A size-1 form broadcast to size n."""
        return self if self.size == n else self.map(np.ones((n, 1)))

    def plus(self, other: "Lin", sign: float) -> "Lin":
        terms = dict(self.terms)
        for s, w in other.terms.items():
            if s not in terms:
                terms[s] = sign * w
            elif terms[s].ndim == 1 and w.ndim == 1:
                terms[s] = terms[s] + sign * w
            else:
                terms[s] = _dense(terms[s]) + sign * _dense(w)
        return Lin(terms, self.bias + sign * other.bias)

    def take(self, rows: np.ndarray) -> "Lin":
        terms = {}
        for s, w in self.terms.items():
            if w.ndim == 1:
                M = np.zeros((rows.size, w.size))
                M[np.arange(rows.size), rows] = w[rows]
                terms[s] = M
            else:
                terms[s] = w[rows]
        return Lin(terms, self.bias[rows])


def _as_lin(v, n: int | None = None) -> Lin:
    lin = v if isinstance(v, Lin) else Lin.const(v)
    return lin.widen(n) if n is not None and lin.size == 1 else lin


# ONNX graph splicing: one rule per op type, re-pointing sources at the caller's nodes
_REMAP = {
    Affine: lambda op, m: Affine(tuple(Term(m[t.src], t.weight) for t in op.terms), op.bias),
    Conditional: lambda op, m: Conditional(m[op.src], op.size),
    Switch: lambda op, m: Switch(m[op.src], m[op.gate], op.size),
    Const: lambda op, m: op,
}


class Builder(Interpreter):
    """Symbolic vectors as affine forms over IR nodes of ``graph``."""

    def __init__(self, env: dict, src: Source, base: Path, graph: IRGraph):
        super().__init__(env, src, base)
        self.graph = graph
        self.label = ""

    def check_finite(self, value) -> None:
        """Also the weights and bias of an affine form (x[0] * 1e200 * 1e200 overflows)."""
        super().check_finite(value)
        if isinstance(value, Lin) and not (np.all(np.isfinite(value.bias)) and all(
                np.all(np.isfinite(w)) for w in value.terms.values())):
            raise DSLError("a coefficient is not finite (a number overflowed float64)")

    def node_of(self, v) -> str:
        """The IR node holding an affine form (created once per form)."""
        lin = _as_lin(v)
        if lin.node is not None:
            return lin.node
        if not lin.terms:
            lin.node = self.graph.add(Const(lin.bias.copy()), label=self.label)
            return lin.node
        if len(lin.terms) == 1 and not np.any(lin.bias):       # an identity: the node itself
            (src, w), = lin.terms.items()
            if w.ndim == 1 and np.all(w == 1.0) and w.size == self.graph.size(src):
                lin.node = src
                return src
        terms = tuple(Term(s, np.asarray(w, dtype=np.float64)) for s, w in lin.terms.items())
        lin.node = self.graph.add(Affine(terms, lin.bias.copy()), label=self.label)
        return lin.node

    def _composed(self, make, node: str) -> Lin:
        """Run a lipc.question.norms composition, re-staging its new nodes as forward nodes."""
        first = self.graph.mark
        out = make(self.graph, node)
        for k in range(first, self.graph.mark):
            name = f"v{k}"
            if name in self.graph.g:
                self.graph.g.nodes[name].update(stage="forward",
                                                label=f"{self.label}: {self.graph.label(name)}")
        return Lin.of(out, self.graph.size(out))

    # the symbolic operations
    def sym_add(self, a, b, sign):
        n = max(_as_lin(a).size, _as_lin(b).size)
        return _as_lin(a, n).plus(_as_lin(b, n), sign)

    def sym_scale(self, s, c):
        d = np.atleast_1d(np.asarray(c, dtype=np.float64))
        n = max(s.size, d.size)
        return _as_lin(s, n).scale(np.broadcast_to(d, (n,)).copy())

    def sym_linear(self, W, s):
        return s.map(np.asarray(W, dtype=np.float64))

    def sym_take(self, s, rows):
        return s.take(rows)

    def sym_concat(self, parts):
        lins = [_as_lin(p) for p in parts]
        n = sum(p.size for p in lins)
        terms: dict = {}
        offset = 0
        for p in lins:
            for src, w in p.terms.items():
                block = terms.setdefault(src, np.zeros((n, self.graph.size(src))))
                block[offset:offset + p.size] += _dense(w)
            offset += p.size
        return Lin(terms, np.concatenate([p.bias for p in lins]))

    def sym_relu(self, s):
        z = self.node_of(s)
        out = relu(self.graph, z, label=self.label)
        return Lin.of(out, s.size)

    def sym_abs(self, s):
        return self._composed(abs_node, self.node_of(s))

    def sym_max(self, s):
        return self._composed(max_node, self.node_of(s))

    def sym_max2(self, a, b):
        n = max(_as_lin(a).size, _as_lin(b).size)
        diff = _as_lin(a, n).plus(_as_lin(b, n), -1.0)
        return self.sym_relu(diff).plus(_as_lin(b, n), 1.0)

    def sym_call(self, f: Func, s):
        net = f.network
        mapping = {net.input: self.node_of(s)}
        inner = net.graph
        keep = inner.needed(net.output)
        for name in inner.topo():
            if name not in keep or name == net.input:
                continue
            op = inner.op(name)
            if type(op) not in _REMAP:
                raise DSLError(f"{f.path}: cannot use a network with a {type(op).__name__} "
                               "node as a function")
            mapping[name] = self.graph.add(_REMAP[type(op)](op, mapping),
                                           label=f"{self.label}: {inner.label(name)}")
        return Lin.of(mapping[net.output], net.n_outputs)



# ---------------------------------------------------------------------- domains

_DOMAIN_PARAMS = {"box": ("lo", "hi"), "linf": ("center", "radius", "lo", "hi"),
                  "l1": ("center", "radius", "lo", "hi"), "polytope": ("A", "b", "lo", "hi")}


def make_domain(value, dim: int, base: Path) -> Domain:
    """A Domain from a domain value of the language: a spec string through
    lipc.question.domain's parser, a ``box(...)`` / ``linf(...)`` / ``l1(...)`` /
    ``polytope(...)`` value from its arrays directly (DOMAIN_BUILDERS)."""
    if isinstance(value, str):
        return parse_domain(value, dim, base)
    if not isinstance(value, DomainSpec):
        raise DSLError(f"expected a domain (box(lo, hi), linf(center, radius), l1(center, "
                       f"radius), polytope(A, b) or a string like \"linf:x0.npy:0.1\"), got "
                       f"{describe(value)}")
    names = _DOMAIN_PARAMS[value.kind]
    if len(value.args) > len(names):
        raise DSLError(f"{value.kind}() takes at most {len(names)} arguments "
                       f"({', '.join(names)})")
    args = dict(zip(names, value.args))
    for k, v in value.kwargs.items():
        if k not in names or k in args:
            raise DSLError(f"{value.kind}(): unexpected or repeated argument {k!r}")
        args[k] = v
    for k, v in args.items():
        if not is_const(v):
            raise DSLError(f"{value.kind}(): {k} must be a constant, got {describe(v)}")
    missing = [k for k in names[:2] if k not in args]
    if missing:
        raise DSLError(f"{value.kind}() needs {' and '.join(missing)}")
    return check_domain(DOMAIN_BUILDERS[value.kind](args, dim, value.text))


def _clip(args: dict, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The optional box [lo, hi] of a ball or polytope (an absent side is unbounded)."""
    if "lo" not in args and "hi" not in args:
        return None
    return (vector_of(args.get("lo", -np.inf), dim, "clip lower bound"),
            vector_of(args.get("hi", np.inf), dim, "clip upper bound"))


def _box(args: dict, dim: int, text: str) -> Domain:
    return Domain(vector_of(args["lo"], dim, "box lower bound"),
                  vector_of(args["hi"], dim, "box upper bound"), description=text)


def _ball(kind: str):
    def build(args: dict, dim: int, text: str) -> Domain:
        radius = args["radius"]
        if kind == "l1" and np.size(radius) != 1:
            raise DomainError(f"l1 ball radius must be a number, not {describe(radius)}")
        return ball_domain(kind, vector_of(args["center"], dim, "ball centre"),
                           vector_of(radius, dim, "ball radius"), _clip(args, dim), text)
    return build


def _polytope(args: dict, dim: int, text: str) -> Domain:
    A = np.asarray(args["A"], dtype=np.float64)
    return polytope_domain(A, np.ravel(args["b"]).astype(np.float64), dim, _clip(args, dim),
                           text)


# a domain value's kind -> its builder from the value's arrays (the language's box(), linf(),
# l1(), polytope()), the same sets as the spec strings of lipc.question.domain
DOMAIN_BUILDERS = {"box": _box, "linf": _ball("linf"), "l1": _ball("l1"),
                   "polytope": _polytope}


# ---------------------------------------------------------------------- programs

@dataclass
class DSLQuery:
    """One question of a program: ``lipschitz``, ``maximize`` or ``minimize``."""

    index: int
    name: str | None
    kind: str                       # "lipschitz" | "maximize" | "minimize"
    text: str                       # the expression as written
    network: Network                # input -> the queried expression
    # its domain (from `over`, else the input's declaration; None: none given), input norm
    # and output norm (None: the expression is a scalar, c = [1])
    question: Question = Question()
    line: int = 0

    @property
    def label(self) -> str:
        return self.name if self.name is not None else f"#{self.index}"

    def describe(self) -> str:
        parts = [f"{self.kind} {self.text}"]
        if self.kind == "lipschitz":
            parts.append(f"input {self.question.input_norm.name}")
            if self.question.output_norm:
                parts.append(f"output {self.question.output_norm}")
        return " ".join(parts)


@dataclass
class Program:
    source: Source
    base: Path
    graph: IRGraph = field(default_factory=IRGraph)
    input_name: str | None = None
    input_node: str | None = None
    input_shape: tuple = ()
    domain: Domain | None = None
    network: Network | None = None          # from the `output` statement
    queries: list[DSLQuery] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    defined: dict = field(default_factory=dict)      # name -> line
    assigns: list = field(default_factory=list)      # symbolic assignments [(name, tree)]

    @property
    def name(self) -> str:
        return Path(self.source.path).stem if self.source.path else "program"

    def query(self, key: str | int | None) -> DSLQuery:
        """A query by name or 0-based index."""
        for q in self.queries:
            if q.name is not None and str(key) == q.name:
                return q
        try:
            return self.queries[int(key)]
        except (ValueError, IndexError, TypeError):
            names = ", ".join(f"{i} ({q.label})" for i, q in enumerate(self.queries)) or "none"
            raise DSLNameError(f"no query {key!r} in {self.source.name}; its queries: "
                               f"{names}") from None

    def reference_for(self, expr: Tree) -> Evaluation:
        need = names_used(expr)
        chosen = []
        for name, tree in reversed(self.assigns):
            if name in need:
                chosen.append((name, tree))
                need |= names_used(tree)
        consts = {k: v for k, v in self.env.items() if not isinstance(v, Sym)}
        return Evaluation(self.source, self.base, consts, self.input_name, chosen[::-1], expr)

    def network_for(self, value, expr: Tree, name: str) -> Network:
        if self.input_node is None:
            raise DSLError("the program declares no input (e.g. `input x[2] in box(0, 1)`)")
        if isinstance(value, np.ndarray) and value.ndim > 1:
            raise DSLShapeError(f"expected a number or a vector, got {describe(value)}")
        if not isinstance(value, (Sym, np.ndarray)):
            raise DSLError(f"expected a number or a vector, got {describe(value)}")
        b = Builder(self.env, self.source, self.base, self.graph)
        b.label = name
        out = b.node_of(value)
        if out == self.input_node:         # the output is the input itself: an identity node
            n = self.graph.size(out)
            out = self.graph.add(Affine((Term(out, np.ones(n)),), np.zeros(n)), label=name)
        keep = self.graph.needed(out) | {self.input_node}
        graph = self.graph.restricted(keep)
        graph.roles = {self.input_node: "input", out: "output"}
        return Network(graph, self.input_node, out, self.input_shape, self.reference_for(expr),
                       name=name)


def _text(prog: Program, tree) -> str:
    return prog.source.snippet(tree) if isinstance(tree, Tree) else str(tree)


def _define(prog: Program, tok, value) -> None:
    name = str(tok)
    if name in prog.defined:
        raise DSLNameError(f"{name!r} is already defined (line {prog.defined[name]}); names are "
                           "defined once")
    if name in BUILTINS or name in DOMAIN_KINDS:
        raise DSLNameError(f"{name!r} is a built-in function; choose another name")
    prog.defined[name] = tok.line
    prog.env[name] = value


def _input_decl(prog: Program, st: Tree, b: Builder) -> None:
    name_tok, shape, dom = st.children
    if prog.input_node is not None:
        raise DSLError(f"a program has one input; {prog.input_name!r} is declared at line "
                       f"{prog.defined[prog.input_name]}")
    dims = tuple(int(t) for t in shape.children)
    size = math.prod(dims)
    if size < 1:
        raise DSLShapeError("an input needs at least one entry")
    if size > MAX_INPUT_SIZE:
        raise DSLShapeError(f"an input of {size} entries is over the limit of {MAX_INPUT_SIZE} "
                            "(one MIP column each, and a local Lipschitz MIP of that size is "
                            "out of reach of any solver)")
    node = prog.graph.add(Input(size), label=f"input {name_tok}")
    _define(prog, name_tok, Lin.of(node, size))
    prog.input_name, prog.input_node, prog.input_shape = str(name_tok), node, dims
    if dom is not None:
        with located(dom, prog.source):
            prog.domain = make_domain(b.eval(dom), size, prog.base)


def _assign(prog: Program, st: Tree, b: Builder) -> None:
    name_tok, expr = st.children
    b.label = str(name_tok)
    value = b.eval(expr)
    _define(prog, name_tok, value)
    if isinstance(value, Sym):
        prog.assigns.append((str(name_tok), expr))


def _output_decl(prog: Program, st: Tree, b: Builder) -> None:
    if prog.network is not None:
        raise DSLError("a program has one `output` statement")
    expr = st.children[0]
    prog.network = prog.network_for(b.eval(expr), expr, prog.name)


def _query(kind: str):
    def handle(prog: Program, st: Tree, b: Builder) -> None:
        qname, expr, *opts = st.children
        name = str(qname.children[0]) if qname is not None else None
        if name is not None and any(q.name == name for q in prog.queries):
            raise DSLNameError(f"there is already a query named {name!r}")
        b.label = name or kind
        value = b.eval(expr)
        index = len(prog.queries)
        net_name = f"{prog.name}:{name if name is not None else index}"
        with located(expr, prog.source):
            net = prog.network_for(value, expr, net_name)
        q = DSLQuery(index, name, kind, _text(prog, expr), net,
                     Question(prog.domain, input_norm=parse_input_norm("linf")),
                     line=st.meta.line)
        seen = set()
        for opt in opts:
            if opt is None:
                continue
            with located(opt, prog.source):
                if opt.data in seen:
                    raise DSLError(f"the option {_OPTION_NAMES[opt.data]!r} is given twice")
                seen.add(opt.data)
                _OPTIONS[opt.data](prog, q, opt, b)
        with located(expr, prog.source):
            m = net.n_outputs
            if kind != "lipschitz" and m != 1:
                raise DSLShapeError(f"{kind} needs a single number, but {q.text} is a vector "
                                    f"of size {m}; pick an entry (e.g. {q.text}[0]) or max()")
            if kind == "lipschitz":
                q.question.input_norm.check_dim(net.n_inputs)
                if q.question.output_norm is None and m != 1:
                    raise DSLShapeError(f"{q.text} is a vector of size {m}: give an output "
                                        "norm (output linf, l1, margin, margin:T, margin:center) "
                                        "or ask about a single number such as y[0] - y[1]")
        prog.queries.append(q)
    return handle


def _norm_text(opt: Tree) -> str:
    tok = opt.children[0]
    return string_literal(str(tok)) if tok.type == "STRING" else str(tok)


def _opt_over(prog: Program, q: DSLQuery, opt: Tree, b: Builder) -> None:
    if prog.input_node is None:
        raise DSLError("the program declares no input")
    with located(opt.children[0], prog.source):
        q.question = q.question.with_domain(
            make_domain(b.eval(opt.children[0]), q.network.n_inputs, prog.base))


def _opt_in(prog: Program, q: DSLQuery, opt: Tree, b: Builder) -> None:
    q.question = replace(q.question, input_norm=parse_input_norm(_norm_text(opt), prog.base))


def _opt_out(prog: Program, q: DSLQuery, opt: Tree, b: Builder) -> None:
    if q.kind != "lipschitz":
        raise DSLError(f"{q.kind} takes no output norm")
    norm = _norm_text(opt)
    m = q.network.n_outputs
    parse_output_norm(norm, m, lambda: np.zeros(m))
    q.question = replace(q.question, output_norm=norm)


_OPTIONS = {"over": _opt_over, "in_norm": _opt_in, "out_norm": _opt_out}
_OPTION_NAMES = {"over": "over", "in_norm": "input", "out_norm": "output"}

STATEMENTS = {
    "input_decl": _input_decl,
    "assign": _assign,
    "output_decl": _output_decl,
    "lipschitz": _query("lipschitz"),
    "maximize": _query("maximize"),
    "minimize": _query("minimize"),
}


def build(text: str, path: str | None = None, base: Path | None = None) -> Program:
    """Parse and build a program (every statement checked, with source locations)."""
    tree = parse(text, path)
    src = Source(text if text.endswith("\n") else text + "\n", path)
    if base is None:
        base = Path(path).resolve().parent if path else Path.cwd()
    prog = Program(src, base)
    b = Builder(prog.env, src, base, prog.graph)
    for st in tree.children:
        with located(st, src):
            STATEMENTS[st.data](prog, st, b)
    return prog


def load_program(path: str | Path) -> Program:
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"program file not found: {p}")
    data = read_maybe_gzip(p, MAX_PROGRAM_BYTES, "a lipc program", ModelError)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{p} is not UTF-8 text (byte {exc.start})") from None
    return build(text, str(path))
