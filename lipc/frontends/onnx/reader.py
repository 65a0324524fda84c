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

from ...errors import LipcError, ModelError, NumericError, UnsupportedOpError
from ...core.ir import Affine, Input, IRGraph, Term
from ...core.network import Network
from .limits import check_shape, product
from .ops import OP_HANDLERS, Builder, Sym, attrs, check_inputs
from ...core.sparse import scale_rows
from ...util.compressed import read_maybe_gzip

# Activations that are not piecewise linear: no exact MIP exists, so they get a specific hint.
SMOOTH_ACTIVATIONS = {"Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Exp", "Log", "Erf", "Gelu",
                      "Elu", "Selu", "Softplus", "Softsign", "HardSigmoid", "HardSwish", "Mish",
                      "Celu", "ThresholdedRelu", "Sin", "Cos", "Pow", "Sqrt", "Reciprocal"}

# The default-domain opsets whose operator definitions the handlers follow.  Below 7, Add/Mul/Gemm
# broadcast by an explicit ``broadcast``/``axis`` attribute pair and several ops take
# attributes lipc does not model; above onnx's own newest opset nothing is defined yet.
MIN_OPSET = 7
MAX_OPSET = onnx.defs.onnx_opset_version()

# Exceptions numpy/onnx raise on a malformed node (a shape that does not fit, an index out of
# range, an attribute of the wrong kind): turned into one ModelError naming the node.
_MALFORMED = (ValueError, IndexError, TypeError, KeyError, OverflowError, ZeroDivisionError,
              AttributeError)


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


def _opset(model: onnx.ModelProto) -> int:
    """The model's default-domain opset, refused outside [MIN_OPSET, MAX_OPSET]."""
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise ModelError("the model imports no default ONNX opset (opset_import is empty)")
    v = int(versions[0])
    if not MIN_OPSET <= v <= MAX_OPSET:
        raise ModelError(f"ONNX opset {v} is not supported; lipc reads opsets {MIN_OPSET} to "
                         f"{MAX_OPSET}")
    return v


def _tensor_array(t: onnx.TensorProto, what: str) -> np.ndarray:
    """A tensor's values, after checking its declared size against the limit (a tensor can
    declare 10^12 elements in a few bytes) and turning onnx's decoding errors into ModelError."""
    check_shape(t.dims, what)
    try:
        return numpy_helper.to_array(t)
    except LipcError:
        raise
    except Exception as exc:  # onnx raises ValueError, TypeError, KeyError on corrupt tensors
        raise ModelError(f"{what} cannot be decoded: {exc}") from None


def _validate(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> None:
    """Every problem of the nodes to read at once: unsupported operators, non-finite weights."""
    unsupported = [(n.op_type, n.name or f"#{i}", n.op_type in SMOOTH_ACTIVATIONS)
                   for i, n in enumerate(nodes)
                   if n.op_type not in OP_HANDLERS or n.domain not in ("", "ai.onnx")]
    if unsupported:
        raise UnsupportedOpError(unsupported, sorted(OP_HANDLERS))
    for init in model.graph.initializer:
        arr = _tensor_array(init, f"initializer {init.name!r}")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise NumericError(f"initializer {init.name!r} contains NaN or infinite values")
    for node in nodes:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                arr = _tensor_array(a.t, f"attribute {a.name!r} of node {node.name!r}")
                if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                    raise NumericError(f"node {node.name!r} ({node.op_type}) holds NaN or "
                                       "infinite values")


def _input_shape(vi: onnx.ValueInfoProto) -> tuple[int, ...]:
    """The input's shape with symbolic/unknown dims (a dynamic batch) taken as 1."""
    dims = vi.type.tensor_type.shape.dim
    shape = tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else 1
                  for d in dims)
    check_shape(shape, f"the network input {vi.name!r}")
    return shape


def _read_model(path: str | Path) -> onnx.ModelProto:
    """The model in ``path`` (``.onnx``, or gzip-compressed ``.onnx.gz``), its external data
    read from the model's own folder."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"model file not found: {p}")
    if p.is_dir():
        raise ModelError(f"{p} is a folder, not an ONNX model file")
    if p.stat().st_size == 0:
        raise ModelError(f"{p} is empty, not an ONNX model")
    data = read_maybe_gzip(p, MAX_MODEL_BYTES, "an ONNX model", ModelError)
    model = model_from_bytes(data, str(p))
    _load_external_data(model, p.resolve().parent)
    return model


# protobuf cannot parse a message over 2 GiB: a .gz that inflates beyond it is refused while
# decompressing (lipc.util.compressed)
MAX_MODEL_BYTES = 2 ** 31


def model_from_bytes(data: bytes, where: str = "the model bytes") -> onnx.ModelProto:
    """Parse a serialised ONNX model (a file's content, or ``torch.onnx.export`` in memory)."""
    if not data:
        raise ModelError(f"{where} is empty, not an ONNX model")
    try:
        return onnx.load_from_string(bytes(data))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise ModelError(f"cannot read {where} as an ONNX model: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None


def _external_tensors(model: onnx.ModelProto):
    for t in model.graph.initializer:
        yield t
    for node in model.graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                yield a.t


def _load_external_data(model: onnx.ModelProto, folder: Path) -> None:
    """Read tensors stored in external files, each checked first: the file lies inside the
    model's folder (no ``../`` or absolute path escapes it, CVE-2024-27318), exists, holds the
    declared range, and that range is within the size limit; only then is it read."""
    for t in _external_tensors(model):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        where = f"external data of tensor {t.name!r}"
        location = info.get("location", "")
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(folder):
            raise ModelError(f"{where}: location {location!r} is outside the model's folder")
        if not target.is_file():
            raise ModelError(f"{where}: file {location!r} not found next to the model")
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
        except ValueError:
            raise ModelError(f"{where}: offset/length are not integers") from None
        size = target.stat().st_size
        if length < 0:
            length = size - offset
        if offset < 0 or offset + length > size:
            raise ModelError(f"{where}: bytes {offset}..{offset + length} lie beyond the end of "
                             f"{location!r} ({size} bytes)")
        check_shape(t.dims, f"tensor {t.name!r}")
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize \
            if t.data_type in onnx.helper.get_all_tensor_dtypes() else 1
        if length > product(t.dims) * itemsize:
            raise ModelError(f"{where}: {length} bytes for a tensor of {product(t.dims)} "
                             "elements")
        with open(target, "rb") as f:
            f.seek(offset)
            t.raw_data = f.read(length)
        del t.external_data[:]
        t.data_location = onnx.TensorProto.DEFAULT


def _float64_model(model: onnx.ModelProto, nodes: list[onnx.NodeProto],
                   out_name: str) -> onnx.ModelProto:
    """A copy computing ``out_name`` from ``nodes`` only, in float64, for the reference
    evaluator: float32 weights widen exactly, so the reference and the IR describe the same
    function, and nodes after an ``--output-node`` cut (a softmax, a custom op) are left out."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    del m.graph.output[:]
    m.graph.output.append(onnx.helper.make_empty_tensor_value_info(out_name))
    F, D = onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE

    def widen(t: onnx.TensorProto) -> None:
        if t.data_type == F:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))

    for init in m.graph.initializer:
        widen(init)
    for node in m.graph.node:
        if node.op_type == "Constant":          # value_float(s) are float32: make them tensors
            for a in node.attribute:
                if a.name in ("value_float", "value_floats"):
                    v = np.asarray(onnx.helper.get_attribute_value(a), dtype=np.float64)
                    a.CopyFrom(onnx.helper.make_attribute("value", numpy_helper.from_array(v)))
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                widen(a.t)
            elif node.op_type == "Cast" and a.name == "to" and a.i == F:
                a.i = D
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if vi.type.tensor_type.elem_type == F:
            vi.type.tensor_type.elem_type = D
    return m


def _reference(model: onnx.ModelProto, nodes: list[onnx.NodeProto], in_name: str,
               in_shape: tuple[int, ...], out_name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The model's own function (up to tensor ``out_name``) by the ONNX reference interpreter."""
    from onnx.reference import ReferenceEvaluator

    try:
        evaluator = ReferenceEvaluator(_float64_model(model, nodes, out_name))
    except Exception as exc:  # the reference interpreter rejects what it cannot run
        raise ModelError(f"the ONNX reference interpreter cannot run the model: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None

    def f(X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        rows = [np.asarray(evaluator.run([out_name], {in_name: x.reshape(in_shape)})[0],
                           dtype=np.float64).ravel() for x in X]
        return np.stack(rows)

    return f


def load_onnx(path: str | Path, output_node: str | None = None) -> Network:
    """Read an ONNX ReLU network file into the IR (forward pass only); ``output_node`` names an
    earlier tensor to use as the output (e.g. the logits before a softmax)."""
    return network_from_model(_read_model(path), output_node, str(path), _stem(path))


def _stem(path: str | Path) -> str:
    name = Path(path).name
    return name[:-len(".onnx.gz")] if name.lower().endswith(".onnx.gz") else Path(path).stem


def network_from_model(model: onnx.ModelProto, output_node: str | None = None,
                       path: str = "the model", name: str = "model") -> Network:
    """An in-memory ONNX model (external data already read) into the IR; ``path`` names it in
    messages, ``name`` is the network's name."""
    if not isinstance(model, onnx.ModelProto):
        raise ModelError(f"{path} is a {type(model).__name__}, not an onnx.ModelProto")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in _external_tensors(model)):
        raise ModelError(f"{path} keeps tensors in external data files: load it from its file "
                         "so they are read from the model's folder")
    opset = _opset(model)
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
    b = Builder(opset)
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
        for tensor, v in zip(node.output, _run_handler(b, node, ins)):
            b.values[tensor] = v
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
    reference = _reference(model, nodes, vi.name, in_shape, out_name)
    _check_reference(b.graph, x, out.node, reference, int(np.prod(in_shape)))
    return Network(b.graph, x, out.node, in_shape, reference, name=name, notes=notes)


def _check_reference(graph: IRGraph, x: str, out: str, reference: Callable,
                     n: int) -> None:
    """The witness trusts the reference interpreter as the model's own function, so it must
    agree with the IR: onnx's reference evaluator mis-evaluates some operators (MaxPool with
    asymmetric pads in onnx 1.23, raises on some AveragePool pads).  A model where the two
    differ at two random points is refused rather than certified against a wrong function."""
    from ...core.interpret import evaluate

    X = np.random.default_rng(0).uniform(-1, 1, (2, n))
    try:
        want = reference(X)
    except Exception as exc:  # the reference interpreter failing at run time
        raise ModelError(f"the ONNX reference interpreter (used to verify results) fails on "
                         f"this model: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    got = evaluate(graph, {x: X.T}, [out])[out].T
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-7, atol=1e-7 * scale):
        raise ModelError("the ONNX reference interpreter (used to verify results) disagrees "
                         "with lipc's reading of this model; refusing rather than verifying "
                         "against a different function")


def _run_handler(b: Builder, node: onnx.NodeProto, ins: list) -> list:
    """One node through its handler; a malformed node numpy or onnx choke on (a shape that does
    not fit, an attribute of the wrong kind) becomes a ModelError naming it."""
    check_inputs(node, b.opset)
    try:
        outs = OP_HANDLERS[node.op_type](b, node, ins, attrs(node, b.opset))
    except LipcError:
        raise
    except _MALFORMED as exc:
        raise ModelError(f"node {node.name or '<unnamed>'!r} ({node.op_type}) is malformed: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    if len(outs) < len([o for o in node.output if o]):
        raise ModelError(f"node {node.name or '<unnamed>'!r} ({node.op_type}): only "
                         f"{len(outs)} output(s) are supported, it has {len(node.output)}")
    return outs


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
