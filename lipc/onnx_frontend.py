"""ONNX → IR.

Each ONNX tensor is tracked either as a constant (a numpy array of any shape) or as a *symbolic*
value: an IR node holding the tensor flattened in row-major order, plus the tensor's ONNX shape.
Operators are an explicit table ``{op_type: handler}``; adding an operator is adding one entry.
The whole model is validated before anything is built, so a user sees every unsupported node and
every non-finite weight in one message.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import ModelError, NumericError, ShapeError, UnsupportedOpError
from .ir import Affine, IRGraph, Input, Term, affine, relu
from .network import Network


@dataclass
class Sym:
    """A tensor that depends on the network input: IR node ``node`` holds it flattened."""

    node: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


Value = Union[Sym, np.ndarray]

# Activations that are not piecewise linear: no exact MIP exists, so they get a specific hint.
SMOOTH_ACTIVATIONS = {"Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Exp", "Log", "Erf", "Gelu",
                      "Elu", "Selu", "Softplus", "Softsign", "HardSigmoid", "HardSwish", "Mish",
                      "Celu", "ThresholdedRelu", "Sin", "Cos", "Pow", "Sqrt", "Reciprocal"}


class _Builder:
    """Walks the ONNX graph once, filling ``values`` (tensor name → Value) and the IR graph."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.graph = IRGraph()
        self.values: dict[str, Value] = {}

    # ------------------------------------------------------------------ helpers
    def const(self, name: str, node: onnx.NodeProto) -> np.ndarray:
        v = self.values[name]
        if isinstance(v, Sym):
            raise ModelError(f"node {node.name!r} ({node.op_type}): input {name!r} must be a "
                             "constant (weights), but it depends on the network input")
        return v

    def affine_of(self, sym: Sym, terms_weight: np.ndarray, bias: np.ndarray, out_shape,
                  label: str) -> Sym:
        """A new affine node W @ sym + bias (``W`` 2-D, or 1-D for an elementwise scale)."""
        term = Term(sym.node, np.asarray(terms_weight, dtype=np.float64))
        node = affine(self.graph, [term], np.asarray(bias, dtype=np.float64).ravel(), label=label)
        return Sym(node, tuple(out_shape))


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _broadcast_const(c: np.ndarray, shape: tuple[int, ...], node: onnx.NodeProto) -> np.ndarray:
    try:
        return np.broadcast_to(c, shape).astype(np.float64).ravel()
    except ValueError:
        raise ShapeError(f"node {node.name!r} ({node.op_type}): constant of shape {c.shape} "
                         f"does not broadcast to the tensor shape {shape}") from None


# ---------------------------------------------------------------------- operator handlers
# Each handler gets (builder, node, input values, attributes) and returns the output values.

def _op_identity(b, node, ins, at):
    return [ins[0]]


def _op_constant(b, node, ins, at):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in at:
            v = at[key]
            arr = numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else np.asarray(v)
            return [np.asarray(arr)]
    raise ModelError(f"Constant node {node.name!r} has no supported value attribute")


def _op_relu(b, node, ins, at):
    x = ins[0]
    if not isinstance(x, Sym):
        return [np.maximum(x, 0)]
    return [Sym(relu(b.graph, x.node, label=node.name or "Relu"), x.shape)]


def _flatten_shape(shape, axis):
    axis = axis if axis >= 0 else axis + len(shape)
    return (int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64)))


def _op_flatten(b, node, ins, at):
    x = ins[0]
    shape = _flatten_shape(x.shape, at.get("axis", 1))
    return [Sym(x.node, shape) if isinstance(x, Sym) else x.reshape(shape)]


def _op_reshape(b, node, ins, at):
    x, target = ins[0], b.const(node.input[1], node).astype(np.int64)
    in_shape = x.shape
    dims = [in_shape[i] if (d == 0 and not at.get("allowzero", 0)) else int(d)
            for i, d in enumerate(target)]
    if dims.count(-1) > 1:
        raise ShapeError(f"Reshape {node.name!r}: more than one -1 in {list(target)}")
    total = int(np.prod(in_shape, dtype=np.int64))
    if -1 in dims:
        rest = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
        dims[dims.index(-1)] = total // rest if rest else 0
    if int(np.prod(dims, dtype=np.int64)) != total:
        raise ShapeError(f"Reshape {node.name!r}: cannot reshape {in_shape} to {list(target)}")
    return [Sym(x.node, tuple(dims)) if isinstance(x, Sym) else x.reshape(dims)]


def _vector_side(x: Sym, node) -> int:
    """For a 2-D symbolic operand, which axis carries the vector (the other must be 1)."""
    if len(x.shape) == 1:
        return 0
    if len(x.shape) == 2 and x.shape[0] == 1:
        return 1
    if len(x.shape) == 2 and x.shape[1] == 1:
        return 0
    raise ShapeError(f"node {node.name!r} ({node.op_type}): input-dependent operand of shape "
                     f"{x.shape} is not a vector (batch 1)")


def _linear(b: _Builder, node, left: Value, right: Value, scale: float) -> tuple[Sym, np.ndarray]:
    """scale * left @ right with exactly one symbolic side; returns (y without bias, y's shape)."""
    if isinstance(left, Sym) == isinstance(right, Sym):
        raise ModelError(f"node {node.name!r} ({node.op_type}): lipc needs exactly one side of "
                         "a matrix product to be constant weights")
    if isinstance(left, Sym):                      # x (1,n) @ W (n,m): y = W^T x
        W = np.asarray(right, dtype=np.float64)
        if W.ndim != 2 or left.size != W.shape[0] or _vector_side(left, node) != len(left.shape) - 1:
            raise ShapeError(f"node {node.name!r} ({node.op_type}): shapes {left.shape} and "
                             f"{W.shape} do not multiply")
        out_shape = left.shape[:-1] + (W.shape[1],)
        return Sym(left.node, out_shape), scale * W.T
    W = np.asarray(left, dtype=np.float64)         # W (m,n) @ x (n,1): y = W x
    if W.ndim != 2 or right.size != W.shape[1] or _vector_side(right, node) != 0:
        raise ShapeError(f"node {node.name!r} ({node.op_type}): shapes {W.shape} and "
                         f"{right.shape} do not multiply")
    out_shape = (W.shape[0],) + right.shape[1:]
    return Sym(right.node, out_shape), scale * W


def _op_matmul(b, node, ins, at):
    left, right = ins
    if not isinstance(left, Sym) and not isinstance(right, Sym):
        return [np.matmul(left, right)]
    src, W = _linear(b, node, left, right, 1.0)
    return [b.affine_of(src, W, np.zeros(W.shape[0]), src.shape, node.name or "MatMul")]


def _op_gemm(b, node, ins, at):
    A, B = ins[0], ins[1]
    if at.get("transA", 0):
        A = A.T if not isinstance(A, Sym) else Sym(A.node, tuple(reversed(A.shape)))
    if at.get("transB", 0):
        B = B.T if not isinstance(B, Sym) else Sym(B.node, tuple(reversed(B.shape)))
    src, W = _linear(b, node, A, B, float(at.get("alpha", 1.0)))
    bias = np.zeros(W.shape[0])
    if len(ins) > 2 and node.input[2]:
        C = float(at.get("beta", 1.0)) * b.const(node.input[2], node)
        bias = _broadcast_const(C, src.shape, node)
    return [b.affine_of(src, W, bias, src.shape, node.name or "Gemm")]


def _add_like(sign: float):
    def handler(b, node, ins, at):
        x, y = ins
        if not isinstance(x, Sym) and not isinstance(y, Sym):
            return [x + sign * y]
        if isinstance(x, Sym) and isinstance(y, Sym):
            if x.shape != y.shape:
                raise ShapeError(f"node {node.name!r} ({node.op_type}): operand shapes "
                                 f"{x.shape} and {y.shape} differ")
            terms = [Term(x.node, np.ones(x.size)), Term(y.node, sign * np.ones(y.size))]
            return [Sym(affine(b.graph, terms, label=node.name or node.op_type), x.shape)]
        sym, c, c_sign = (x, y, sign) if isinstance(x, Sym) else (y, x, 1.0)
        out_shape = np.broadcast_shapes(sym.shape, np.shape(c))
        if int(np.prod(out_shape, dtype=np.int64)) != sym.size:
            raise ShapeError(f"node {node.name!r} ({node.op_type}): adding a constant of shape "
                             f"{np.shape(c)} would broadcast the input-dependent tensor")
        scale = np.full(sym.size, 1.0 if isinstance(x, Sym) else sign)
        bias = c_sign * _broadcast_const(np.asarray(c), sym.shape, node)
        return [b.affine_of(Sym(sym.node, sym.shape), scale, bias, out_shape,
                            node.name or node.op_type)]
    return handler


OP_HANDLERS: dict[str, Callable] = {
    "Gemm": _op_gemm,
    "MatMul": _op_matmul,
    "Add": _add_like(1.0),
    "Sub": _add_like(-1.0),
    "Relu": _op_relu,
    "Flatten": _op_flatten,
    "Reshape": _op_reshape,
    "Identity": _op_identity,
    "Constant": _op_constant,
}


# ---------------------------------------------------------------------- validation & loading

def _validate(model: onnx.ModelProto) -> None:
    """Every problem of the model at once: unsupported operators and non-finite weights."""
    unsupported = [(n.op_type, n.name or f"#{i}", n.op_type in SMOOTH_ACTIVATIONS)
                   for i, n in enumerate(model.graph.node)
                   if n.op_type not in OP_HANDLERS or n.domain not in ("", "ai.onnx")]
    if unsupported:
        raise UnsupportedOpError(unsupported, sorted(OP_HANDLERS))
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise NumericError(f"initializer {init.name!r} contains NaN or infinite values")
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.type == onnx.AttributeProto.TENSOR:
                    arr = numpy_helper.to_array(a.t)
                    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                        raise NumericError(f"Constant node {node.name!r} contains NaN or "
                                           "infinite values")


def _input_shape(vi: onnx.ValueInfoProto) -> tuple[int, ...]:
    """The input's shape with symbolic/unknown dims (a dynamic batch) taken as 1."""
    dims = vi.type.tensor_type.shape.dim
    return tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else 1
                 for d in dims)


def _read_model(path: str | Path) -> onnx.ModelProto:
    p = Path(path)
    if not p.exists():
        raise ModelError(f"model file not found: {p}")
    try:
        return onnx.load(str(p))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise ModelError(f"cannot read {p} as an ONNX model: {exc}") from None


def _float64_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy computing in float64, for the reference evaluator: float32 weights widen exactly,
    so the reference and the IR describe the same function."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    F, D = onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE

    def widen(t: onnx.TensorProto) -> None:
        if t.data_type == F:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))

    for init in m.graph.initializer:
        widen(init)
    for node in m.graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                widen(a.t)
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if vi.type.tensor_type.elem_type == F:
            vi.type.tensor_type.elem_type = D
    return m


def _reference(model: onnx.ModelProto, in_name: str, in_shape: tuple[int, ...],
               out_name: str) -> Callable[[np.ndarray], np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(_float64_model(model))

    def f(X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        rows = [np.asarray(evaluator.run([out_name], {in_name: x.reshape(in_shape)})[0],
                           dtype=np.float64).ravel() for x in X]
        return np.stack(rows)

    return f


def load_onnx(path: str | Path) -> Network:
    """Read an ONNX ReLU network into the IR (forward pass only)."""
    model = _read_model(path)
    _validate(model)
    init_names = {i.name for i in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in init_names]
    if len(inputs) != 1:
        raise ModelError(f"{path}: lipc needs exactly one network input, found "
                         f"{[vi.name for vi in inputs]}")
    if len(model.graph.output) != 1:
        raise ModelError(f"{path}: lipc needs exactly one network output, found "
                         f"{[o.name for o in model.graph.output]}")
    b = _Builder(model)
    for init in model.graph.initializer:
        b.values[init.name] = numpy_helper.to_array(init).astype(np.float64)
    vi = inputs[0]
    in_shape = _input_shape(vi)
    size = int(np.prod(in_shape, dtype=np.int64))
    x = b.graph.add(Input(size), label=f"input {vi.name}")
    b.graph.roles[x] = "input"
    b.values[vi.name] = Sym(x, in_shape)
    for node in model.graph.node:
        try:
            ins = [b.values[n] if n else None for n in node.input]
        except KeyError as exc:
            raise ModelError(f"node {node.name!r} ({node.op_type}) reads undefined tensor "
                             f"{exc.args[0]!r}") from None
        outs = OP_HANDLERS[node.op_type](b, node, ins, _attrs(node))
        for name, v in zip(node.output, outs):
            b.values[name] = v
    out_name = model.graph.output[0].name
    out = b.values.get(out_name)
    if not isinstance(out, Sym):
        raise ModelError(f"{path}: the output {out_name!r} does not depend on the input")
    b.graph.roles[out.node] = "output"
    _merge_diagonal_affines(b.graph)
    return Network(b.graph, x, out.node, in_shape, _reference(model, vi.name, in_shape, out_name),
                   name=Path(path).stem)


def _merge_diagonal_affines(graph: IRGraph) -> None:
    """Fold ``y = d * a + c`` into the affine ``a`` it scales when ``a`` has no other consumer:
    MatMul followed by Add (and Sub of a constant) becomes one affine node, as a Gemm would."""
    for name in graph.topo():
        op = graph.op(name)
        if not (isinstance(op, Affine) and len(op.terms) == 1 and op.terms[0].is_diag):
            continue
        src = op.terms[0].src
        prev = graph.op(src)
        if not isinstance(prev, Affine) or graph.g.out_degree(src) != 1 or src in graph.roles:
            continue
        d = op.terms[0].weight
        terms = tuple(Term(t.src, d * t.weight if t.is_diag else d[:, None] * t.weight)
                      for t in prev.terms)
        merged = Affine(terms, d * prev.bias + op.bias)
        graph.g.nodes[name].update(op=merged, label=f"{graph.label(src)} + {graph.label(name)}")
        graph.g.remove_node(src)
        for t in terms:
            graph.g.add_edge(t.src, name)
