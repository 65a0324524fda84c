"""Build the small example ONNX networks in this folder from PyTorch.

The networks are seeded ``nn.Sequential`` ReLU MLPs (float32 weights) exported
with BOTH exporters of ``torch.onnx.export``:

* the legacy TorchScript exporter (``dynamo=False``), opset 17;
* the dynamo / ``torch.export`` exporter (``dynamo=True``), opset 18 (the
  lowest opset it has native implementations for; asking it for 17 goes
  through a fallback version converter and prints a warning).

Every model has one input named ``x`` and one output named ``y``, batch
dimension 1, except the two ``*_dynbatch`` files, whose batch axis is the
symbolic dimension ``batch``.

Files written (next to this script unless ``--out-dir`` is given):

==========================================  ========  ============================
file                                        exporter  network
==========================================  ========  ============================
toy_2_8_8_1.onnx                            legacy    2-8-8-1, scalar output
toy_2_8_8_1_dynbatch.onnx                   legacy    same weights, batch 'batch'
classifier_4_16_16_3.onnx                   legacy    Flatten, 4-16-16-3
classifier_4_16_16_3_dynamo.onnx            dynamo    same weights as above
classifier_4_16_16_3_dynamo_dynbatch.onnx   dynamo    same weights, batch 'batch'
mlp_10_20_30_20_2.onnx                      legacy    10-20-30-20-2 (paper shape)
x0_4.npy                                    -         float64 [0.5, 0.5, 0.5, 0.5]
x0_10.npy                                   -         float64, 10 values in [0,1)
==========================================  ========  ============================

The dynamo exporter's files are made self-contained (``external_data=False``,
all initializers inside the .onnx file) and its per-node / per-value
``metadata_props`` (stack traces holding local paths, FX node dumps) are
stripped so that the files are small and reproducible. Nothing else is changed:
the graph, the ``value_info`` entries and the initializers are as exported.

After exporting, the script prints a structural report of every file (op
types, Gemm attributes, initializers, input/output shapes, opset, value_info,
Constant nodes), runs ``onnx.checker`` and compares the outputs of
``onnx.reference.ReferenceEvaluator`` (and onnxruntime, when installed) and of
a float64 numpy evaluation of the initializers with torch's outputs.

torch is NOT a dependency of lipc: it is only needed to regenerate these files.
To run (torch 2.13.0 CPU was used for the committed files)::

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 onnx onnxscript numpy
    /tmp/torchenv/bin/pip install onnxruntime   # optional, extra cross-check
    /tmp/torchenv/bin/python examples/make_torch_examples.py
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import onnx.reference
import torch
from torch import nn

LEGACY_OPSET = 17
DYNAMO_OPSET = 18
ATOL = 1e-6

SEED_TOY = 0
SEED_CLASSIFIER = 1
SEED_MLP = 2
SEED_X0_10 = 10
SEED_CHECK = 1234


# --------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------

def make_toy() -> nn.Sequential:
    torch.manual_seed(SEED_TOY)
    return nn.Sequential(
        nn.Linear(2, 8), nn.ReLU(),
        nn.Linear(8, 8), nn.ReLU(),
        nn.Linear(8, 1),
    ).eval()


def make_classifier() -> nn.Sequential:
    torch.manual_seed(SEED_CLASSIFIER)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(4, 16), nn.ReLU(),
        nn.Linear(16, 16), nn.ReLU(),
        nn.Linear(16, 3),
    ).eval()


def make_mlp() -> nn.Sequential:
    torch.manual_seed(SEED_MLP)
    return nn.Sequential(
        nn.Linear(10, 20), nn.ReLU(),
        nn.Linear(20, 30), nn.ReLU(),
        nn.Linear(30, 20), nn.ReLU(),
        nn.Linear(20, 2),
    ).eval()


# --------------------------------------------------------------------------
# exporters
# --------------------------------------------------------------------------

def export_legacy(model: nn.Module, n_in: int, path: str, dynamic_batch: bool = False) -> None:
    x = torch.zeros(1, n_in)
    kwargs = {}
    if dynamic_batch:
        kwargs["dynamic_axes"] = {"x": {0: "batch"}, "y": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation warning
        torch.onnx.export(
            model, (x,), path,
            dynamo=False,
            opset_version=LEGACY_OPSET,
            input_names=["x"], output_names=["y"],
            do_constant_folding=True,
            **kwargs,
        )


def _strip_metadata(model: onnx.ModelProto) -> None:
    """Drop the per-node / per-value metadata the dynamo exporter attaches."""
    g = model.graph
    for node in g.node:
        del node.metadata_props[:]
        node.doc_string = ""
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if hasattr(vi, "metadata_props"):
            del vi.metadata_props[:]
    for init in g.initializer:
        if hasattr(init, "metadata_props"):
            del init.metadata_props[:]


def export_dynamo(model: nn.Module, n_in: int, path: str, dynamic_batch: bool = False) -> None:
    x = torch.zeros(1, n_in)
    kwargs = {}
    if dynamic_batch:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x,), path,
            dynamo=True,
            opset_version=DYNAMO_OPSET,
            input_names=["x"], output_names=["y"],
            external_data=False,
            **kwargs,
        )
    m = onnx.load(path)
    _strip_metadata(m)
    for init in m.graph.initializer:
        assert init.data_location != onnx.TensorProto.EXTERNAL, init.name
    onnx.save(m, path)  # small: plain save, no external data
    assert not os.path.exists(path + ".data")


# --------------------------------------------------------------------------
# report and checks
# --------------------------------------------------------------------------

def _dims(vi: onnx.ValueInfoProto) -> list:
    out = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        elif d.HasField("dim_param"):
            out.append(repr(d.dim_param))
        else:
            out.append("?")
    return out


def _dtype(elem_type: int) -> str:
    return onnx.TensorProto.DataType.Name(elem_type)


def report(path: str) -> onnx.ModelProto:
    m = onnx.load(path)
    g = m.graph
    print(f"== {os.path.basename(path)}  ({os.path.getsize(path)} bytes)")
    print(f"   ir_version={m.ir_version} producer={m.producer_name} {m.producer_version}")
    print("   opset_import: " + ", ".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in m.opset_import))
    for vi in g.input:
        print(f"   input  {vi.name!r}: {_dtype(vi.type.tensor_type.elem_type)} {_dims(vi)}")
    for vi in g.output:
        print(f"   output {vi.name!r}: {_dtype(vi.type.tensor_type.elem_type)} {_dims(vi)}")
    print(f"   op types (in order): {[n.op_type for n in g.node]}")
    for n in g.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        print(f"     {n.op_type:8s} name={n.name!r} in={list(n.input)} out={list(n.output)} attrs={attrs}")
    print("   initializers:")
    for t in g.initializer:
        loc = "external" if t.data_location == onnx.TensorProto.EXTERNAL else "inline"
        extra = ""
        if t.data_type == onnx.TensorProto.INT64:
            extra = f" value={onnx.numpy_helper.to_array(t).tolist()}"
        print(f"     {t.name!r}: {_dtype(t.data_type)} {list(t.dims)} ({loc}){extra}")
    n_const = sum(1 for n in g.node if n.op_type == "Constant")
    print(f"   value_info entries: {len(g.value_info)} "
          f"{[(v.name, _dims(v)) for v in g.value_info]}")
    print(f"   Constant nodes: {n_const}; sparse_initializers: {len(g.sparse_initializer)}; "
          f"functions: {len(m.functions)}; model metadata_props: {len(m.metadata_props)}")
    return m


def numpy_eval(m: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """float64 evaluation of the supported op subset (what an importer does)."""
    env = {t.name: onnx.numpy_helper.to_array(t).astype(np.float64)
           if t.data_type == onnx.TensorProto.FLOAT else onnx.numpy_helper.to_array(t)
           for t in m.graph.initializer}
    env[m.graph.input[0].name] = x.astype(np.float64)
    for n in m.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        ins = [env[i] for i in n.input if i]
        if n.op_type == "Gemm":
            A, B = ins[0], ins[1]
            A = A.T if a.get("transA", 0) else A
            B = B.T if a.get("transB", 0) else B
            y = a.get("alpha", 1.0) * A @ B
            if len(ins) > 2:
                y = y + a.get("beta", 1.0) * ins[2]
        elif n.op_type == "Relu":
            y = np.maximum(ins[0], 0.0)
        elif n.op_type == "Flatten":
            ax = a.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif n.op_type == "Reshape":
            y = ins[0].reshape(ins[1])
        elif n.op_type == "MatMul":
            y = ins[0] @ ins[1]
        elif n.op_type == "Add":
            y = ins[0] + ins[1]
        elif n.op_type == "Identity":
            y = ins[0]
        else:
            raise NotImplementedError(n.op_type)
        env[n.output[0]] = y
    return env[m.graph.output[0].name]


def check(path: str, model: nn.Module, n_in: int, batches=(1,)) -> None:
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ref = onnx.reference.ReferenceEvaluator(m)
    try:
        import onnxruntime as ort
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except ImportError:
        sess = None
    gen = torch.Generator().manual_seed(SEED_CHECK)
    worst = {"reference": 0.0, "onnxruntime": 0.0, "numpy64": 0.0}
    n_checked = 0
    for b in batches:
        for _ in range(5):
            xt = torch.rand(b, n_in, generator=gen) * 4.0 - 2.0
            with torch.no_grad():
                yt = model(xt).numpy()
            xn = xt.numpy()
            outs = {"reference": ref.run(None, {"x": xn})[0],
                    "numpy64": numpy_eval(m, xn)}
            if sess is not None:
                outs["onnxruntime"] = sess.run(None, {"x": xn})[0]
            for k, y in outs.items():
                assert y.shape == yt.shape, (path, k, y.shape, yt.shape)
                err = float(np.max(np.abs(y - yt)))
                assert err <= ATOL, (path, k, err)
                worst[k] = max(worst[k], err)
            n_checked += 1
    if sess is None:
        del worst["onnxruntime"]
    print(f"   checker: OK; {n_checked} random inputs (batches {list(batches)}), "
          f"max |onnx - torch|: " + ", ".join(f"{k}={v:.2e}" for k, v in worst.items()))


# --------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args(argv)
    out = args.out_dir
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)  # noqa: E731

    toy, clf, mlp = make_toy(), make_classifier(), make_mlp()

    jobs = [
        # (file, model, n_in, exporter, dynamic batch)
        ("toy_2_8_8_1.onnx", toy, 2, export_legacy, False),
        ("toy_2_8_8_1_dynbatch.onnx", toy, 2, export_legacy, True),
        ("classifier_4_16_16_3.onnx", clf, 4, export_legacy, False),
        ("classifier_4_16_16_3_dynamo.onnx", clf, 4, export_dynamo, False),
        ("classifier_4_16_16_3_dynamo_dynbatch.onnx", clf, 4, export_dynamo, True),
        ("mlp_10_20_30_20_2.onnx", mlp, 10, export_legacy, False),
    ]
    for name, model, n_in, exporter, dyn in jobs:
        exporter(model, n_in, p(name), dynamic_batch=dyn)

    np.save(p("x0_4.npy"), np.full(4, 0.5, dtype=np.float64))
    np.save(p("x0_10.npy"), np.random.default_rng(SEED_X0_10).uniform(0.0, 1.0, 10))

    print(f"torch {torch.__version__}, onnx {onnx.__version__}")
    for name, model, n_in, exporter, dyn in jobs:
        report(p(name))
        check(p(name), model, n_in, batches=(1, 3) if dyn else (1,))
    for name in ("x0_4.npy", "x0_10.npy"):
        a = np.load(p(name))
        print(f"== {name}: {a.dtype} {a.shape} {a.tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
