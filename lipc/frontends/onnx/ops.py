"""ONNX operators as IR, one handler per op type in :data:`OP_HANDLERS`.

Each ONNX tensor is either a constant (a numpy array of any shape) or *symbolic*: an IR node
holding the tensor flattened in row-major order, plus its ONNX shape (:class:`Sym`).  Every
supported operator is piecewise linear, so it becomes affine / conditional / switch nodes:

* data movement (Transpose, Slice, Gather, Concat, Pad, Squeeze, Unsqueeze, broadcasting) is one
  generic *index map*: the op is applied to a tensor of positions and the result read back as a
  selection matrix (an identity map costs nothing: only the shape changes);
* Gemm, MatMul, Conv, AveragePool, BatchNormalization, Mul/Div/Neg by constants are affine;
* Relu, LeakyRelu, PRelu, Clip, Abs, Max, Min and MaxPool are built from ReLUs,
  e.g. max(a, b) = a + relu(b - a), clip(z) = lo + relu(z - lo) - relu(z - hi).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import numpy as np
import onnx
from onnx import numpy_helper

from ...errors import ModelError, ShapeError
from .limits import check_elements, check_shape, product
from ...core.ir import IRGraph, Term, affine, relu
from ...question.norms import abs_node
from ...core.sparse import CSR


@dataclass
class Sym:
    """A tensor that depends on the network input: IR node ``node`` holds it flattened."""

    node: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


Value = Union[Sym, np.ndarray]


class Builder:
    """State of one import: the IR graph and the ONNX tensor name → Value table."""

    def __init__(self, opset: int = 17):
        self.graph = IRGraph()
        self.values: dict[str, Value] = {}
        self.opset = opset

    def const(self, name: str, node: onnx.NodeProto) -> np.ndarray:
        v = self.values[name]
        if isinstance(v, Sym):
            raise ModelError(f"node {node.name!r} ({node.op_type}): input {name!r} must be a "
                             "constant (weights), but it depends on the network input")
        return v

    def linear(self, parts: list[tuple[Sym, object]], bias, shape, label: str) -> Sym:
        """sum_k W_k @ sym_k + bias as one affine node; W_k dense, CSR or 1-D (diagonal)."""
        terms = [Term(s.node, w if isinstance(w, CSR) else np.asarray(w, dtype=np.float64))
                 for s, w in parts]
        size = int(np.prod(shape, dtype=np.int64))
        bias = np.broadcast_to(np.asarray(bias, dtype=np.float64), (size,)).copy()
        return Sym(affine(self.graph, terms, bias, label=label), tuple(int(d) for d in shape))

    def relu(self, x: Sym, label: str) -> Sym:
        return Sym(relu(self.graph, x.node, label=label), x.shape)


def _where(node: onnx.NodeProto) -> str:
    return f"node {node.name or '<unnamed>'!r} ({node.op_type})"


_A = onnx.AttributeProto
_WINDOW = {"kernel_shape": _A.INTS, "strides": _A.INTS, "pads": _A.INTS, "dilations": _A.INTS,
           "auto_pad": _A.STRING, "ceil_mode": _A.INT}

# Every attribute each operator accepts, with its ONNX type.  Anything else (an attribute of a
# newer or older opset, a typo, a flipped byte) is refused: lipc never guesses what it means.
ATTRIBUTES: dict[str, dict[str, int]] = {
    "Gemm": {"alpha": _A.FLOAT, "beta": _A.FLOAT, "transA": _A.INT, "transB": _A.INT},
    "LeakyRelu": {"alpha": _A.FLOAT}, "Clip": {"min": _A.FLOAT, "max": _A.FLOAT},
    "BatchNormalization": {"epsilon": _A.FLOAT, "momentum": _A.FLOAT, "training_mode": _A.INT},
    "Conv": {**_WINDOW, "group": _A.INT},
    "AveragePool": {**_WINDOW, "count_include_pad": _A.INT},
    "MaxPool": {**_WINDOW, "storage_order": _A.INT},
    "Flatten": {"axis": _A.INT}, "Reshape": {"allowzero": _A.INT},
    "Squeeze": {"axes": _A.INTS}, "Unsqueeze": {"axes": _A.INTS}, "Transpose": {"perm": _A.INTS},
    "Slice": {"starts": _A.INTS, "ends": _A.INTS, "axes": _A.INTS},
    "Gather": {"axis": _A.INT}, "Concat": {"axis": _A.INT},
    "Pad": {"mode": _A.STRING, "pads": _A.INTS, "value": _A.FLOAT},
    "Dropout": {"ratio": _A.FLOAT, "seed": _A.INT}, "Cast": {"to": _A.INT, "saturate": _A.INT},
    "Constant": {"value": _A.TENSOR, "value_float": _A.FLOAT, "value_floats": _A.FLOATS,
                 "value_int": _A.INT, "value_ints": _A.INTS},
}


# (since opset, required, most) inputs of each operator, newest definition first; the required
# ones may not be omitted ("").  Ops not listed take exactly one input.
_MANY = 1 << 30
INPUTS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "Gemm": ((1, 2, 3),), "MatMul": ((1, 2, 2),), "Add": ((1, 2, 2),), "Sub": ((1, 2, 2),),
    "Mul": ((1, 2, 2),), "Div": ((1, 2, 2),), "PRelu": ((1, 2, 2),),
    "Clip": ((11, 1, 3), (1, 1, 1)), "Max": ((1, 1, _MANY),), "Min": ((1, 1, _MANY),),
    "BatchNormalization": ((1, 5, 5),), "Conv": ((1, 2, 3),), "Reshape": ((5, 2, 2),),
    "Squeeze": ((13, 1, 2), (1, 1, 1)), "Unsqueeze": ((13, 2, 2), (1, 1, 1)),
    "Slice": ((10, 3, 5), (1, 1, 1)), "Gather": ((1, 2, 2),), "Concat": ((1, 1, _MANY),),
    "Pad": ((18, 2, 4), (11, 2, 3), (1, 1, 1)), "Dropout": ((12, 1, 3), (1, 1, 1)),
    "Constant": ((1, 0, 0),),
}

# Attributes that exist only in some opsets (first, last): e.g. Clip's bounds became inputs in
# opset 11; an attribute outside its range has no meaning in the model's opset and is refused.
ATTRIBUTE_OPSETS: dict[tuple[str, str], tuple[int, int]] = {
    ("Clip", "min"): (1, 10), ("Clip", "max"): (1, 10),
    ("Slice", "starts"): (1, 9), ("Slice", "ends"): (1, 9), ("Slice", "axes"): (1, 9),
    ("Pad", "pads"): (1, 10), ("Pad", "value"): (1, 10),
    ("Squeeze", "axes"): (1, 12), ("Unsqueeze", "axes"): (1, 12),
    ("Dropout", "ratio"): (1, 11), ("Dropout", "seed"): (12, _MANY),
    ("BatchNormalization", "training_mode"): (14, _MANY),
    ("AveragePool", "dilations"): (19, _MANY), ("AveragePool", "ceil_mode"): (10, _MANY),
    ("MaxPool", "dilations"): (10, _MANY), ("MaxPool", "ceil_mode"): (10, _MANY),
    ("MaxPool", "storage_order"): (8, _MANY), ("Reshape", "allowzero"): (14, _MANY),
    ("Cast", "saturate"): (19, _MANY), ("Constant", "value_float"): (12, _MANY),
    ("Constant", "value_floats"): (12, _MANY), ("Constant", "value_int"): (12, _MANY),
    ("Constant", "value_ints"): (12, _MANY),
}


def check_inputs(node: onnx.NodeProto, opset: int) -> None:
    """The node has as many inputs as its op takes in ``opset``, no required one omitted."""
    _, need, most = next(d for d in INPUTS.get(node.op_type, ((1, 1, 1),)) if d[0] <= opset)
    given = list(node.input)
    while given and not given[-1]:
        given.pop()                                   # trailing omitted optional inputs
    if len(given) > most or len(given) < need or any(not n for n in given[:need]):
        count = f"{need}" if most == need else f"{need} or more" if most == _MANY \
            else f"{need} to {most}"
        raise ModelError(f"{_where(node)}: takes {count} inputs in opset {opset}, got "
                         f"{list(node.input)}")


def attrs(node: onnx.NodeProto, opset: int) -> dict:
    """The node's attributes as Python values, after checking each is one the op accepts in
    ``opset`` with the type ONNX gives it (STRING values decoded)."""
    accepted = ATTRIBUTES.get(node.op_type, {})
    out = {}
    for a in node.attribute:
        if a.name not in accepted:
            raise ModelError(f"{_where(node)}: attribute {a.name!r} is not supported"
                             + (f" (accepted: {', '.join(sorted(accepted))})" if accepted else
                                " (the op takes no attributes)"))
        first, last = ATTRIBUTE_OPSETS.get((node.op_type, a.name), (1, _MANY))
        if not first <= opset <= last:
            raise ModelError(f"{_where(node)}: attribute {a.name!r} does not exist in opset "
                             f"{opset} (only in opsets {first}"
                             + (f" to {last})" if last != _MANY else " and later)"))
        if a.type != accepted[a.name]:
            raise ModelError(f"{_where(node)}: attribute {a.name!r} has type "
                             f"{_A.AttributeType.Name(a.type) if a.type in _A.AttributeType.values() else a.type}, "
                             f"expected {_A.AttributeType.Name(accepted[a.name])}")
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            try:
                v = v.decode()
            except UnicodeDecodeError:
                raise ModelError(f"{_where(node)}: attribute {a.name!r} is not UTF-8 text") \
                    from None
        out[a.name] = v
    return out


# ---------------------------------------------------------------------- index maps

def index_map(b: Builder, node, values: list[Value], fn: Callable, fill: float = 0.0) -> Value:
    """Apply a data-movement op ``fn`` (numpy, on integer position tensors) to ``values``.

    Positions of symbolic inputs are non-negative offsets into their concatenation; constants
    are encoded as codes <= -2 into a pool; ``fn`` may introduce -1 for a padding ``fill``.
    """
    if not any(isinstance(v, Sym) for v in values):
        out = np.asarray(fn(*[np.asarray(v, dtype=np.float64) for v in values]))
        check_shape(out.shape, f"the result of {_where(node)}")
        return out
    tensors, syms, pool, offset = [], [], [], 0
    for v in values:
        if isinstance(v, Sym):
            tensors.append(np.arange(offset, offset + v.size).reshape(v.shape))
            syms.append((v, offset))
            offset += v.size
        else:
            arr = np.asarray(v, dtype=np.float64)
            tensors.append(-(2 + len(pool) + np.arange(arr.size)).reshape(arr.shape))
            pool.extend(arr.ravel().tolist())
    R = np.asarray(fn(*tensors))
    check_shape(R.shape, f"the result of {_where(node)}")
    r = R.ravel()
    if len(syms) == 1 and r.size == syms[0][0].size and np.array_equal(r, np.arange(r.size)):
        return Sym(syms[0][0].node, R.shape)            # a pure reshape: no node
    bias = np.zeros(r.size)
    consts = r <= -2
    bias[consts] = np.asarray(pool)[-r[consts] - 2]
    bias[r == -1] = fill
    parts = []
    for s, off in syms:
        rows = np.flatnonzero((r >= off) & (r < off + s.size))
        if rows.size:
            parts.append((s, CSR.from_coo(rows, r[rows] - off, np.ones(rows.size),
                                          (r.size, s.size))))
    if not parts:
        return bias.reshape(R.shape)
    return b.linear(parts, bias, R.shape, node.name or node.op_type)


def broadcast_to(b: Builder, node, v: Value, shape) -> Value:
    shape = tuple(shape)
    if isinstance(v, Sym) and v.shape == shape:
        return v
    return index_map(b, node, [v], lambda t: np.broadcast_to(t, shape))


def _lin_combo(b: Builder, node, operands: list[tuple[Value, float]], label: str = "") -> Value:
    """sum_k s_k * v_k with numpy broadcasting, for symbolic or constant v_k."""
    shape = np.broadcast_shapes(*[np.shape(v) if not isinstance(v, Sym) else v.shape
                                  for v, _ in operands])
    check_shape(shape, f"the result of {_where(node)}")
    parts, bias = [], np.zeros(int(np.prod(shape, dtype=np.int64)))
    for v, s in operands:
        v = broadcast_to(b, node, v, shape)
        if isinstance(v, Sym):
            parts.append((v, np.full(v.size, float(s))))
        else:
            bias = bias + s * np.asarray(v, dtype=np.float64).ravel()
    if not parts:
        return bias.reshape(shape)
    return b.linear(parts, bias, shape, label or node.name or node.op_type)


def _scale(b: Builder, node, x: Value, factor: np.ndarray, bias=0.0) -> Value:
    """x * factor + bias elementwise with broadcasting (factor, bias constant)."""
    factor = np.asarray(factor, dtype=np.float64)
    shape = np.broadcast_shapes(x.shape if isinstance(x, Sym) else np.shape(x), factor.shape,
                                np.shape(bias))
    if not isinstance(x, Sym):
        return np.asarray(x) * factor + bias
    x = broadcast_to(b, node, x, shape)
    f = np.broadcast_to(factor, shape).ravel()
    return b.linear([(x, f)], np.broadcast_to(bias, shape).ravel(), shape,
                    node.name or node.op_type)


# ---------------------------------------------------------------------- handlers
# Each handler gets (builder, node, input values (None for omitted optional inputs), attrs)
# and returns the list of output values.

def _identity(b, node, ins, at):
    return [ins[0]]


def _constant(b, node, ins, at):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in at:
            v = at[key]
            arr = numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else np.asarray(v)
            return [np.asarray(arr)]
    raise ModelError(f"{_where(node)} has no supported value attribute")


def _cast(b, node, ins, at):
    to = at.get("to")
    if to not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
        if isinstance(ins[0], Sym):
            raise ModelError(f"{_where(node)}: casting an input-dependent tensor to a "
                             "non-float type is not piecewise linear")
        return [np.asarray(ins[0]).astype(onnx.helper.tensor_dtype_to_np_dtype(to))]
    return [ins[0] if isinstance(ins[0], Sym) else np.asarray(ins[0], dtype=np.float64)]


def _relu(b, node, ins, at):
    x = ins[0]
    return [b.relu(x, node.name or "Relu") if isinstance(x, Sym) else np.maximum(x, 0)]


def _leaky(slope_of: Callable):
    """y = s z + (1 - s) relu(z): exact for any slope s, gradient s + (1 - s) [z > 0]."""
    def handler(b, node, ins, at):
        x = ins[0]
        s = np.asarray(slope_of(b, node, ins, at), dtype=np.float64)
        if not isinstance(x, Sym):
            return [np.where(x > 0, x, s * x)]
        s = np.broadcast_to(s, x.shape).ravel()
        r = b.relu(x, f"{node.name} [relu]")
        return [b.linear([(x, s), (r, 1.0 - s)], 0.0, x.shape, node.name or node.op_type)]
    return handler


def _prelu_slope(b, node, ins, at):
    if isinstance(ins[1], Sym):
        raise ModelError(f"{_where(node)}: the slope must be a constant")
    return ins[1]


def _clip(b, node, ins, at):
    x = ins[0]
    lo = b.const(node.input[1], node) if len(ins) > 1 and ins[1] is not None else at.get("min")
    hi = b.const(node.input[2], node) if len(ins) > 2 and ins[2] is not None else at.get("max")
    if not isinstance(x, Sym):
        return [np.clip(x, lo, hi)]
    out: Value = x
    if lo is not None:                                   # max(z, lo) = lo + relu(z - lo)
        d = _lin_combo(b, node, [(x, 1.0), (np.asarray(lo, float), -1.0)], f"{node.name} z-lo")
        out = _lin_combo(b, node, [(b.relu(d, f"{node.name} [lo]"), 1.0),
                                   (np.asarray(lo, float), 1.0)])
    if hi is not None:                                   # min(y, hi) = y - relu(y - hi)
        d = _lin_combo(b, node, [(out, 1.0), (np.asarray(hi, float), -1.0)], f"{node.name} y-hi")
        out = _lin_combo(b, node, [(out, 1.0), (b.relu(d, f"{node.name} [hi]"), -1.0)])
    return [out]


def _abs(b, node, ins, at):
    x = ins[0]
    if not isinstance(x, Sym):
        return [np.abs(x)]
    return [Sym(abs_node(b.graph, x.node), x.shape)]


def _max_min(sign: float):
    """max(a, c) = a + relu(c - a); min(a, c) = a - relu(a - c); variadic folds pairwise."""
    def handler(b, node, ins, at):
        acc = ins[0]
        for other in ins[1:]:
            if not isinstance(acc, Sym) and not isinstance(other, Sym):
                acc = np.maximum(acc, other) if sign > 0 else np.minimum(acc, other)
                continue
            d = _lin_combo(b, node, [(other, sign), (acc, -sign)], f"{node.name} diff")
            r = b.relu(d, f"{node.name} [relu]")
            acc = _lin_combo(b, node, [(acc, 1.0), (r, sign)])
        return [acc]
    return handler


def _add_sub(sign: float):
    def handler(b, node, ins, at):
        return [_lin_combo(b, node, [(ins[0], 1.0), (ins[1], sign)])]
    return handler


def _mul(b, node, ins, at):
    x, y = ins
    if isinstance(x, Sym) and isinstance(y, Sym):
        raise ModelError(f"{_where(node)}: the product of two input-dependent tensors is not "
                         "piecewise linear")
    if not isinstance(x, Sym) and not isinstance(y, Sym):
        return [np.asarray(x) * np.asarray(y)]
    sym, c = (x, y) if isinstance(x, Sym) else (y, x)
    return [_scale(b, node, sym, c)]


def _div(b, node, ins, at):
    x, y = ins
    if isinstance(y, Sym):
        raise ModelError(f"{_where(node)}: division by an input-dependent tensor is not "
                         "piecewise linear")
    if not isinstance(x, Sym):
        return [np.asarray(x) / np.asarray(y)]
    y = np.asarray(y, dtype=np.float64)
    if np.any(y == 0):
        raise ModelError(f"{_where(node)}: division by zero")
    return [_scale(b, node, x, 1.0 / y)]


def _neg(b, node, ins, at):
    return [_scale(b, node, ins[0], -1.0)]


def _batchnorm(b, node, ins, at):
    x, scale, bias, mean, var = ins[:5]
    if any(isinstance(v, Sym) for v in (scale, bias, mean, var)):
        raise ModelError(f"{_where(node)}: parameters must be constants (inference mode)")
    if at.get("training_mode", 0):
        raise ModelError(f"{_where(node)}: training mode is not supported; export in eval mode")
    eps = float(at.get("epsilon", 1e-5))
    ndim = len(x.shape) if isinstance(x, Sym) else np.ndim(x)
    per_channel = (1, -1) + (1,) * (ndim - 2)
    factor = (np.asarray(scale, float) / np.sqrt(np.asarray(var, float) + eps)).reshape(per_channel)
    shift = np.asarray(bias, float).reshape(per_channel) - np.asarray(mean, float).reshape(per_channel) * factor
    return [_scale(b, node, x, factor, shift)]


def _flatten(b, node, ins, at):
    x = ins[0]
    shape = x.shape if isinstance(x, Sym) else np.shape(x)
    axis = _axis(node, at.get("axis", 1), len(shape) + 1, "axis")
    new = (int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64)))
    return [Sym(x.node, new) if isinstance(x, Sym) else np.reshape(x, new)]


def _reshape(b, node, ins, at):
    x, target = ins[0], b.const(node.input[1], node).astype(np.int64)
    in_shape = x.shape if isinstance(x, Sym) else np.shape(x)
    if target.ndim != 1 or any(d < -1 for d in target):
        raise ShapeError(f"{_where(node)}: invalid target shape {target.tolist()}")
    if any(d == 0 for d in target) and not at.get("allowzero", 0) and len(target) > len(in_shape):
        raise ShapeError(f"{_where(node)}: a 0 in {target.tolist()} copies a dimension the "
                         f"input {tuple(in_shape)} does not have")
    dims = [in_shape[i] if (d == 0 and not at.get("allowzero", 0)) else int(d)
            for i, d in enumerate(target)]
    if dims.count(-1) > 1:
        raise ShapeError(f"{_where(node)}: more than one -1 in {target.tolist()}")
    total = product(in_shape)
    if -1 in dims:
        rest = product(d for d in dims if d != -1)
        dims[dims.index(-1)] = total // rest if rest else 0
    if product(dims) != total:
        raise ShapeError(f"{_where(node)}: cannot reshape {tuple(in_shape)} to {target.tolist()}")
    return [Sym(x.node, tuple(dims)) if isinstance(x, Sym) else np.reshape(x, dims)]


def _axis(node, a: int, rank: int, what: str) -> int:
    """Axis ``a`` in [-rank, rank) as a non-negative index, or a clear error."""
    a = int(a)
    if not -rank <= a < rank:
        raise ShapeError(f"{_where(node)}: {what} {a} is out of range for rank {rank}")
    return a % rank


def _axes(b, node, ins, at, position: int = 1):
    if len(ins) > position and ins[position] is not None:
        return [int(a) for a in b.const(node.input[position], node).ravel()]
    return [int(a) for a in at.get("axes", [])]


def _squeeze(b, node, ins, at):
    x = ins[0]
    shape = list(x.shape if isinstance(x, Sym) else np.shape(x))
    axes = [_axis(node, a, len(shape), "axes") for a in _axes(b, node, ins, at)] or \
        [i for i, d in enumerate(shape) if d == 1]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{_where(node)}: repeated axes {axes}")
    if any(shape[a] != 1 for a in axes):
        raise ShapeError(f"{_where(node)}: cannot squeeze axes {axes} of shape {tuple(shape)} "
                         "(only dimensions of size 1)")
    new = tuple(d for i, d in enumerate(shape) if i not in axes)
    return [Sym(x.node, new) if isinstance(x, Sym) else np.reshape(x, new)]


def _unsqueeze(b, node, ins, at):
    x = ins[0]
    shape = list(x.shape if isinstance(x, Sym) else np.shape(x))
    axes = _axes(b, node, ins, at)
    rank = len(shape) + len(axes)
    axes = [_axis(node, a, rank, "axes") for a in axes]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{_where(node)}: repeated axes {axes}")
    for a in sorted(axes):
        shape.insert(a, 1)
    return [Sym(x.node, tuple(shape)) if isinstance(x, Sym) else np.reshape(x, shape)]


def _transpose(b, node, ins, at):
    perm = at.get("perm")
    rank = len(ins[0].shape if isinstance(ins[0], Sym) else np.shape(ins[0]))
    if perm is not None and sorted(perm) != list(range(rank)):
        raise ShapeError(f"{_where(node)}: perm {list(perm)} is not a permutation of the "
                         f"{rank} axes")
    return [index_map(b, node, ins[:1], lambda t: np.transpose(t, perm))]


def _slice(b, node, ins, at):
    x = ins[0]
    rank = len(x.shape if isinstance(x, Sym) else np.shape(x))
    if len(ins) > 1:                                    # opset >= 10: inputs
        starts = b.const(node.input[1], node).astype(np.int64)
        ends = b.const(node.input[2], node).astype(np.int64)
        axes = b.const(node.input[3], node).astype(np.int64) if len(ins) > 3 and ins[3] is not None \
            else np.arange(len(starts))
        steps = b.const(node.input[4], node).astype(np.int64) if len(ins) > 4 and ins[4] is not None \
            else np.ones(len(starts), np.int64)
    else:
        starts, ends = np.array(at["starts"]), np.array(at["ends"])
        axes, steps = np.array(at.get("axes", range(len(starts)))), np.ones(len(starts), np.int64)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ShapeError(f"{_where(node)}: starts, ends, axes and steps differ in length")
    axes = [_axis(node, a, rank, "axes") for a in axes]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{_where(node)}: repeated axes {axes}")
    if np.any(steps == 0):
        raise ShapeError(f"{_where(node)}: a step of 0")
    index = [slice(None)] * rank
    for s, e, a, st in zip(starts, ends, axes, steps):
        big = np.iinfo(np.int64).max // 2
        index[int(a) % rank] = slice(int(np.clip(s, -big, big)), int(np.clip(e, -big, big)), int(st))
    return [index_map(b, node, [x], lambda t: t[tuple(index)])]


def _gather(b, node, ins, at):
    x, idx = ins[0], b.const(node.input[1], node).astype(np.int64)
    shape = x.shape if isinstance(x, Sym) else np.shape(x)
    axis = _axis(node, at.get("axis", 0), len(shape), "axis")
    n = shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise ShapeError(f"{_where(node)}: an index outside [{-n}, {n - 1}] of axis {axis}")
    check_elements(product(shape[:axis]) * idx.size * product(shape[axis + 1:]),
                   f"the result of {_where(node)}")
    return [index_map(b, node, [x], lambda t: np.take(t, idx, axis=axis))]


def _concat(b, node, ins, at):
    if "axis" not in at:
        raise ModelError(f"{_where(node)}: the attribute 'axis' is required")
    rank = len(ins[0].shape if isinstance(ins[0], Sym) else np.shape(ins[0]))
    axis = _axis(node, at["axis"], rank, "axis")
    return [index_map(b, node, list(ins), lambda *ts: np.concatenate(ts, axis=axis))]


def _pad(b, node, ins, at):
    x = ins[0]
    mode = at.get("mode", "constant")
    if mode != "constant":
        raise ModelError(f"{_where(node)}: only constant padding is supported, not {mode!r}")
    rank = len(x.shape if isinstance(x, Sym) else np.shape(x))
    pads = b.const(node.input[1], node).astype(np.int64) if len(ins) > 1 else np.array(at["pads"])
    value = float(b.const(node.input[2], node).ravel()[0]) if len(ins) > 2 and ins[2] is not None \
        else float(at.get("value", 0.0))
    axes = list(range(rank))
    if len(ins) > 3 and ins[3] is not None:
        axes = [int(a) % rank for a in b.const(node.input[3], node).ravel()]
    if np.any(pads < 0):
        raise ModelError(f"{_where(node)}: negative pads are not supported")
    if pads.shape != (2 * len(axes),):
        raise ShapeError(f"{_where(node)}: {pads.size} pads for {len(axes)} axes")
    width = [(0, 0)] * rank
    for k, a in enumerate(axes):
        width[a] = (int(pads[k]), int(pads[k + len(axes)]))
    shape = x.shape if isinstance(x, Sym) else np.shape(x)
    check_shape([d + lo + hi for d, (lo, hi) in zip(shape, width)], f"the result of {_where(node)}")
    if not isinstance(x, Sym):
        return [np.pad(np.asarray(x, float), width, constant_values=value)]
    return [index_map(b, node, [x], lambda t: np.pad(t, width, constant_values=-1), fill=value)]


def _dropout(b, node, ins, at):
    if len(node.output) > 1 and node.output[1]:
        raise ModelError(f"{_where(node)}: the dropout mask output is not supported")
    if len(ins) > 1 and ins[1] is not None and (
            isinstance(ins[1], Sym) or np.size(ins[1]) != 1 or not 0 <= float(ins[1]) < 1):
        raise ModelError(f"{_where(node)}: the ratio must be a constant scalar in [0, 1)")
    if len(ins) > 2 and ins[2] is not None and \
            (isinstance(ins[2], Sym) or np.any(np.asarray(ins[2]) != 0)):
        raise ModelError(f"{_where(node)}: training_mode is set (random dropout); export the "
                         "model in inference mode")
    return [ins[0]]


# ---------------------------------------------------------------------- products

def _matmul_parts(b, node, left: Value, right: Value, scale: float):
    """(sym, weight, out_shape) of scale * left @ right with exactly one constant side.

    Leading dimensions of the symbolic side (a batch of 1, rows of a sequence) make the weight
    block-diagonal, stored sparse."""
    if isinstance(left, Sym) == isinstance(right, Sym):
        raise ModelError(f"{_where(node)}: lipc needs exactly one side of a matrix product to be "
                         "constant weights (a product of two input-dependent tensors is not "
                         "piecewise linear)")
    if isinstance(left, Sym):                        # x (..., n) @ W (n, m)
        W = scale * np.asarray(right, dtype=np.float64)
        if W.ndim != 2 or left.shape[-1] != W.shape[0]:
            raise ShapeError(f"{_where(node)}: shapes {left.shape} and {W.shape} do not multiply")
        reps = left.size // W.shape[0]
        weight = W.T if reps == 1 else CSR.block_diag(W.T, reps)
        return left, weight, left.shape[:-1] + (W.shape[1],)
    W = scale * np.asarray(left, dtype=np.float64)   # W (m, n) @ x (n, k)
    x = right
    if W.ndim != 2 or x.shape[0] != W.shape[1] or len(x.shape) > 2:
        raise ShapeError(f"{_where(node)}: shapes {W.shape} and {x.shape} do not multiply")
    k = x.size // W.shape[1]
    weight = W if k == 1 else CSR.kron_identity(W, k)
    return x, weight, (W.shape[0],) + x.shape[1:]


def _matmul(b, node, ins, at):
    left, right = ins
    if not isinstance(left, Sym) and not isinstance(right, Sym):
        return [np.matmul(left, right)]
    x, W, shape = _matmul_parts(b, node, left, right, 1.0)
    return [b.linear([(x, W)], 0.0, shape, node.name or "MatMul")]


def _gemm(b, node, ins, at):
    A, B = ins[0], ins[1]
    if at.get("transA", 0):
        A = A.T if not isinstance(A, Sym) else _transpose2(b, node, A)
    if at.get("transB", 0):
        B = B.T if not isinstance(B, Sym) else _transpose2(b, node, B)
    x, W, shape = _matmul_parts(b, node, A, B, float(at.get("alpha", 1.0)))
    bias = 0.0
    if len(ins) > 2 and ins[2] is not None:
        C = float(at.get("beta", 1.0)) * b.const(node.input[2], node)
        try:
            bias = np.broadcast_to(C, shape).ravel()
        except ValueError:
            raise ShapeError(f"{_where(node)}: C of shape {C.shape} does not broadcast to "
                             f"{shape}") from None
    return [b.linear([(x, W)], bias, shape, node.name or "Gemm")]


def _transpose2(b, node, x: Sym) -> Value:
    return index_map(b, node, [x], lambda t: t.T)


# ---------------------------------------------------------------------- convolution & pooling

def _spatial(x: Sym, node) -> tuple[int, int, int]:
    if len(x.shape) != 4 or x.shape[0] != 1:
        raise ShapeError(f"{_where(node)}: expects an input of shape (1, C, H, W), got {x.shape}")
    return x.shape[1], x.shape[2], x.shape[3]


def _window(at, kernel, H, W, node):
    """Strides, dilations, pads (begin h, w, end h, w) and output size of a 2-D sliding window
    (ONNX rules)."""
    strides = list(at.get("strides", [1, 1]))
    dil = list(at.get("dilations", [1, 1]))
    pads = list(at.get("pads", [0, 0, 0, 0]))
    auto = at.get("auto_pad", "NOTSET")
    ceil = at.get("ceil_mode", 0)
    if len(kernel) != 2 or len(strides) != 2 or len(dil) != 2 or len(pads) != 4:
        raise ShapeError(f"{_where(node)}: a 2-D window needs 2 kernel sizes, strides and "
                         "dilations and 4 pads")
    if min(kernel) < 1 or min(strides) < 1 or min(dil) < 1 or min(pads) < 0:
        raise ShapeError(f"{_where(node)}: kernel sizes, strides and dilations must be positive "
                         "and pads non-negative")
    size = [H, W]
    eff = [dil[k] * (kernel[k] - 1) + 1 for k in range(2)]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = [-(-size[k] // strides[k]) for k in range(2)]
        total = [max(0, (out[k] - 1) * strides[k] + eff[k] - size[k]) for k in range(2)]
        small = [t // 2 for t in total]
        begin = small if auto == "SAME_UPPER" else [t - s for t, s in zip(total, small)]
        pads = begin + [t - s for t, s in zip(total, begin)]
    elif auto == "VALID":
        pads = [0, 0, 0, 0]
    elif auto != "NOTSET":
        raise ModelError(f"{_where(node)}: unknown auto_pad {auto!r}")
    rounding = (lambda v: -(-v // 1)) if ceil else (lambda v: v)
    out = []
    for k in range(2):
        span = size[k] + pads[k] + pads[k + 2] - eff[k]
        n = (-(-span // strides[k]) if ceil else span // strides[k]) + 1
        if ceil and (n - 1) * strides[k] >= size[k] + pads[k]:
            n -= 1                                    # the last window must start inside
        out.append(int(rounding(n)))
    if min(out) < 1:
        raise ShapeError(f"{_where(node)}: the window does not fit the input")
    check_elements(product(out) * product(kernel), f"the windows of {_where(node)}")
    return strides, dil, pads, out


def _taps(H, W, kernel, strides, dil, begin, out):
    """For every output position and kernel offset: the input position (or -1 outside)."""
    i = np.arange(out[0])[:, None, None, None] * strides[0] - begin[0] \
        + np.arange(kernel[0])[None, None, :, None] * dil[0]
    j = np.arange(out[1])[None, :, None, None] * strides[1] - begin[1] \
        + np.arange(kernel[1])[None, None, None, :] * dil[1]
    i, j = np.broadcast_arrays(i, j)                  # (Ho, Wo, kh, kw)
    valid = (i >= 0) & (i < H) & (j >= 0) & (j < W)
    return np.where(valid, i * W + j, -1)


def _conv(b, node, ins, at):
    x = ins[0]
    if not isinstance(x, Sym):
        raise ModelError(f"{_where(node)}: a convolution of constants is not supported")
    Wt = np.asarray(b.const(node.input[1], node), dtype=np.float64)
    if Wt.ndim != 4:
        raise ModelError(f"{_where(node)}: only 2-D convolutions are supported")
    C, H, W = _spatial(x, node)
    group = int(at.get("group", 1))
    Co, Cg, kh, kw = Wt.shape
    if "kernel_shape" in at and list(at["kernel_shape"]) != [kh, kw]:
        raise ShapeError(f"{_where(node)}: kernel_shape {list(at['kernel_shape'])} does not "
                         f"match the weights {Wt.shape}")
    if group < 1:
        raise ShapeError(f"{_where(node)}: group must be positive, not {group}")
    if C != Cg * group or Co % group:
        raise ShapeError(f"{_where(node)}: {C} input channels do not match weights {Wt.shape} "
                         f"with group={group}")
    strides, dil, begin, out = _window(at, [kh, kw], H, W, node)
    check_elements(Co * Cg * product(out) * kh * kw, f"the weights of {_where(node)}")
    taps = _taps(H, W, [kh, kw], strides, dil, begin, out)          # (Ho, Wo, kh, kw)
    Ho, Wo = out
    o = np.arange(Co)[:, None, None, None, None, None]
    ci = np.arange(Cg)[None, :, None, None, None, None]
    in_c = (o // (Co // group)) * Cg + ci
    pos = taps[None, None]                                             # (1,1,Ho,Wo,kh,kw)
    row = (o * Ho + np.arange(Ho)[None, None, :, None, None, None]) * Wo \
        + np.arange(Wo)[None, None, None, :, None, None]
    val = Wt[:, :, None, None, :, :]
    row, col_c, pos, val = np.broadcast_arrays(row, in_c, pos, val)
    keep = pos >= 0
    weight = CSR.from_coo(row[keep], col_c[keep] * H * W + pos[keep], val[keep],
                          (Co * Ho * Wo, C * H * W))
    bias = 0.0
    if len(ins) > 2 and ins[2] is not None:
        bias = np.repeat(np.asarray(b.const(node.input[2], node), float), Ho * Wo)
    return [b.linear([(x, weight)], bias, (1, Co, Ho, Wo), node.name or "Conv")]


def _kernel(node, at) -> list[int]:
    if "kernel_shape" not in at:
        raise ModelError(f"{_where(node)}: the attribute 'kernel_shape' is required")
    kernel, pads = list(at["kernel_shape"]), list(at.get("pads", []))
    if len(kernel) == 2 and len(pads) == 4 and any(p >= kernel[k % 2] for k, p in enumerate(pads)):
        # a window lying wholly in the padding has no value (onnxruntime refuses it too)
        raise ShapeError(f"{_where(node)}: pads {pads} must be smaller than the kernel {kernel}")
    return kernel


def _avgpool(b, node, ins, at):
    """The mean over each window.  The divisor counts the window's taps inside the input
    (``count_include_pad=0``) or inside the *padded* input (``=1``): with ``ceil_mode=1`` the
    last window may run past the padding too, and those taps never count (onnxruntime's rule)."""
    x = ins[0]
    C, H, W = _spatial(x, node)
    kernel = _kernel(node, at)
    strides, dil, pads, out = _window(at, kernel, H, W, node)
    taps = _taps(H, W, kernel, strides, dil, pads, out).reshape(out[0] * out[1], -1)
    valid = taps >= 0
    if at.get("count_include_pad", 0):
        padded = _taps(H + pads[0] + pads[2], W + pads[1] + pads[3], kernel, strides, dil,
                       [0, 0], out)
        count = (padded.reshape(out[0] * out[1], -1) >= 0).sum(axis=1)
    else:
        count = valid.sum(axis=1)
    rows, k = np.nonzero(valid)
    P = out[0] * out[1]
    weight = CSR.from_coo(
        (np.arange(C)[:, None] * P + rows[None, :]).ravel(),
        (np.arange(C)[:, None] * H * W + taps[rows, k][None, :]).ravel(),
        np.tile(1.0 / count[rows], C), (C * P, C * H * W))
    return [b.linear([(x, weight)], 0.0, (1, C) + tuple(out), node.name or "AveragePool")]


def _global_avgpool(b, node, ins, at):
    x = ins[0]
    C, H, W = _spatial(x, node)
    weight = CSR.from_coo(np.repeat(np.arange(C), H * W), np.arange(C * H * W),
                          np.full(C * H * W, 1.0 / (H * W)), (C, C * H * W))
    return [b.linear([(x, weight)], 0.0, (1, C, 1, 1), node.name or "GlobalAveragePool")]


def _maxpool(b, node, ins, at):
    """Running maximum over the window: m <- m + relu(x_k - m) at the positions where tap k
    exists (elsewhere the difference is the constant 0 and costs no binary)."""
    x = ins[0]
    if len(node.output) > 1 and node.output[1]:
        raise ModelError(f"{_where(node)}: the Indices output of MaxPool is not supported")
    C, H, W = _spatial(x, node)
    kernel = _kernel(node, at)
    strides, dil, pads, out = _window(at, kernel, H, W, node)
    taps = _taps(H, W, kernel, strides, dil, pads, out).reshape(out[0] * out[1], -1)
    P, K = taps.shape
    shape = (1, C) + tuple(out)
    first = np.argmax(taps >= 0, axis=1)                # every window has a tap inside
    base = np.arange(C)[:, None] * H * W

    def select(rows: np.ndarray, pos: np.ndarray) -> CSR:
        r = (np.arange(C)[:, None] * P + rows[None, :]).ravel()
        return CSR.from_coo(r, (base + pos[None, :]).ravel(), np.ones(r.size), (C * P, C * H * W))

    m = b.linear([(x, select(np.arange(P), taps[np.arange(P), first]))], 0.0, shape,
                 f"{node.name} window start")
    for k in range(K):
        rows = np.flatnonzero((taps[:, k] >= 0) & (first != k))
        if rows.size == 0:
            continue
        mask = np.zeros(C * P)
        mask[(np.arange(C)[:, None] * P + rows[None, :]).ravel()] = 1.0
        d = b.linear([(x, select(rows, taps[rows, k])), (m, -mask)], 0.0, shape,
                     f"{node.name} tap {k} - max")
        r = b.relu(d, f"{node.name} [tap {k}]")
        m = b.linear([(m, np.ones(C * P)), (r, np.ones(C * P))], 0.0, shape, f"{node.name} max")
    return [m]


OP_HANDLERS: dict[str, Callable] = {
    "Gemm": _gemm, "MatMul": _matmul,
    "Add": _add_sub(1.0), "Sub": _add_sub(-1.0), "Mul": _mul, "Div": _div, "Neg": _neg,
    "Relu": _relu, "LeakyRelu": _leaky(lambda b, n, i, a: a.get("alpha", 0.01)),
    "PRelu": _leaky(_prelu_slope), "Clip": _clip, "Abs": _abs,
    "Max": _max_min(1.0), "Min": _max_min(-1.0),
    "BatchNormalization": _batchnorm, "Conv": _conv,
    "AveragePool": _avgpool, "GlobalAveragePool": _global_avgpool, "MaxPool": _maxpool,
    "Flatten": _flatten, "Reshape": _reshape, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Transpose": _transpose, "Slice": _slice, "Gather": _gather, "Concat": _concat, "Pad": _pad,
    "Identity": _identity, "Dropout": _dropout, "Cast": _cast, "Constant": _constant,
}
