"""ONNX → IR: reading, validating and walking a model; the operators live in ``onnx_ops``.

The whole model is validated before anything is built, so a user sees every unsupported node and
every non-finite weight in one message.  ``output_node`` cuts the graph at an earlier tensor (the
logits before a final softmax): only the nodes that tensor depends on are read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import numpy_helper

from ...errors import ModelError, NumericError, UnsupportedOpError
from ...core.ir import Affine, Input, IRGraph, Term
from ...core.network import Network
from .ops import OP_HANDLERS, Builder, Sym, attrs
from ...core.sparse import scale_rows

# Activations that are not piecewise linear: no exact MIP exists, so they get a specific hint.
SMOOTH_ACTIVATIONS = {"Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Exp", "Log", "Erf", "Gelu",
                      "Elu", "Selu", "Softplus", "Softsign", "HardSigmoid", "HardSwish", "Mish",
                      "Celu", "ThresholdedRelu", "Sin", "Cos", "Pow", "Sqrt", "Reciprocal"}


# ---------------------------------------------------------------------- validation & loading

def _needed_nodes(model: onnx.ModelProto, output: str) -> list[onnx.NodeProto]:
    """The nodes ``output`` depends on, in graph order (the graph is topologically sorted)."""
    producer = {o: i for i, n in enumerate(model.graph.node) for o in n.output}
    if output not in producer and output not in {vi.name for vi in model.graph.input}:
        names = sorted(producer)
        raise ModelError(f"no tensor named {output!r} in the model; tensors: "
                         f"{', '.join(names[:40])}{' ...' if len(names) > 40 else ''}")
    keep, stack = set(), [output]
    while stack:
        t = stack.pop()
        i = producer.get(t)
        if i is None or i in keep:
            continue
        keep.add(i)
        stack.extend(n for n in model.graph.node[i].input if n)
    return [n for i, n in enumerate(model.graph.node) if i in keep]


def _validate(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> None:
    """Every problem of the nodes to read at once: unsupported operators, non-finite weights."""
    unsupported = [(n.op_type, n.name or f"#{i}", n.op_type in SMOOTH_ACTIVATIONS)
                   for i, n in enumerate(nodes)
                   if n.op_type not in OP_HANDLERS or n.domain not in ("", "ai.onnx")]
    if unsupported:
        raise UnsupportedOpError(unsupported, sorted(OP_HANDLERS))
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise NumericError(f"initializer {init.name!r} contains NaN or infinite values")
    for node in nodes:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                arr = numpy_helper.to_array(a.t)
                if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                    raise NumericError(f"node {node.name!r} ({node.op_type}) holds NaN or "
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
            elif node.op_type == "Cast" and a.name == "to" and a.i == F:
                a.i = D
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if vi.type.tensor_type.elem_type == F:
            vi.type.tensor_type.elem_type = D
    return m


def _reference(model: onnx.ModelProto, in_name: str, in_shape: tuple[int, ...],
               out_name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The model's own function (up to tensor ``out_name``) by the ONNX reference interpreter."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(_float64_model(model))

    def f(X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        rows = [np.asarray(evaluator.run([out_name], {in_name: x.reshape(in_shape)})[0],
                           dtype=np.float64).ravel() for x in X]
        return np.stack(rows)

    return f


def load_onnx(path: str | Path, output_node: str | None = None) -> Network:
    """Read an ONNX ReLU network into the IR (forward pass only); ``output_node`` names an
    earlier tensor to use as the output (e.g. the logits before a softmax)."""
    model = _read_model(path)
    init_names = {i.name for i in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in init_names]
    if len(inputs) != 1:
        raise ModelError(f"{path}: lipc needs exactly one network input, found "
                         f"{[vi.name for vi in inputs]}")
    if output_node is None and len(model.graph.output) != 1:
        raise ModelError(f"{path}: lipc needs exactly one network output, found "
                         f"{[o.name for o in model.graph.output]}; pick one with --output-node")
    out_name = output_node or model.graph.output[0].name
    nodes = _needed_nodes(model, out_name)
    try:
        _validate(model, nodes)
    except UnsupportedOpError as exc:
        raise UnsupportedOpError(exc.nodes, sorted(OP_HANDLERS),
                                 hint="to analyse the network up to an earlier tensor (e.g. "
                                      "the logits before a softmax), pass --output-node NAME") \
            from None
    b = Builder()
    for init in model.graph.initializer:
        b.values[init.name] = numpy_helper.to_array(init).astype(np.float64)
    vi = inputs[0]
    in_shape = _input_shape(vi)
    x = b.graph.add(Input(int(np.prod(in_shape, dtype=np.int64))), label=f"input {vi.name}")
    b.graph.roles[x] = "input"
    b.values[vi.name] = Sym(x, in_shape)
    for node in nodes:
        try:
            ins = [b.values[n] if n else None for n in node.input]
        except KeyError as exc:
            raise ModelError(f"node {node.name!r} ({node.op_type}) reads undefined tensor "
                             f"{exc.args[0]!r}") from None
        for name, v in zip(node.output, OP_HANDLERS[node.op_type](b, node, ins, attrs(node))):
            b.values[name] = v
    out = b.values.get(out_name)
    if not isinstance(out, Sym):
        raise ModelError(f"{path}: the output {out_name!r} does not depend on the input")
    if out.node == x:      # the output is the input itself (reshapes only): give it its own node
        out = b.linear([(out, np.ones(out.size))], 0.0, out.shape, "identity")
    b.graph.roles[out.node] = "output"
    merged = _merge_diagonal_affines(b.graph)
    skipped = len(model.graph.node) - len(nodes)
    notes = [f"read {len(nodes)} ONNX nodes into {len(b.graph)} IR nodes"
             + (f" ({skipped} nodes after {out_name!r} left out)" if skipped else ""),
             f"folded {merged} elementwise scaling(s) (BatchNormalization, Mul/Div/Add/Sub by "
             "constants) into the preceding affine node" if merged else
             "no elementwise scaling to fold"]
    return Network(b.graph, x, out.node, in_shape,
                   _reference(model, vi.name, in_shape, out_name),
                   name=Path(path).stem, notes=notes)


def _merge_diagonal_affines(graph: IRGraph) -> int:
    """Fold ``y = d * a + c`` into the affine ``a`` it scales when ``a`` has no other consumer:
    MatMul followed by Add (and Sub of a constant) becomes one affine node, as a Gemm would, and
    a BatchNormalization folds into its convolution.  Returns how many were folded."""
    folded = 0
    for name in graph.topo():
        op = graph.op(name)
        if not (isinstance(op, Affine) and len(op.terms) == 1 and op.terms[0].is_diag):
            continue
        src = op.terms[0].src
        prev = graph.op(src)
        if not isinstance(prev, Affine) or graph.g.out_degree(src) != 1 or src in graph.roles:
            continue
        d = op.terms[0].weight
        terms = tuple(Term(t.src, d * t.weight if t.is_diag else scale_rows(t.weight, d))
                      for t in prev.terms)
        merged = Affine(terms, d * prev.bias + op.bias)
        graph.g.nodes[name].update(op=merged, label=f"{graph.label(src)} + {graph.label(name)}")
        graph.g.remove_node(src)
        for t in terms:
            graph.g.add_edge(t.src, name)
        folded += 1
    return folded
