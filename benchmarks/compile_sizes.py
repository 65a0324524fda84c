"""Compile time and MIP size of real-world-shaped networks: two CIFAR-size CNNs (one of the
VNN-COMP ``cifar10_small`` shape), a 784-256x3-10 and a 784-1024-1024-10 MLP, seeded random
weights, written with onnx.helper.

Prints a table: network, bound method, ONNX weights, MIP nonzeros, nonzeros a dense convolution
matrix would have, binaries, load / compile / write times, and HiGHS's time to merely read the
written MPS file (the yardstick for "compiles in seconds") and the ratio (compile + write) / read
(issue 17's targets: a CNN compiles in <= 5 s, the 784-1024-1024-10 MLP is compiled and written in
<= 1.5x HiGHS's read time).  Times are wall clock on whatever else runs on the machine: compare
two versions only when run alongside (see the --networks filter).  Run:
python benchmarks/compile_sizes.py [--networks cifar10_small,mlp_784_1024x2_10] [--bounds auto]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import lipc
from lipc.compiler.pipeline import CompileOptions
from lipc.emit import write


def _model(nodes, inits, in_shape, name):
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def cifar_cnn(rng):
    """conv 3->16 (3x3, stride 2, pad 1), relu, conv 16->32 (3x3, stride 2, pad 1), relu,
    flatten, fc 2048->100, relu, fc 100->10 on 3x32x32."""
    w = lambda *s: rng.normal(0, 1 / np.sqrt(np.prod(s[1:])), s)
    inits = {"c1": w(16, 3, 3, 3), "b1": w(16, 1)[:, 0] * 0.1, "c2": w(32, 16, 3, 3),
             "b2": w(32, 1)[:, 0] * 0.1, "f1": w(100, 2048), "g1": np.zeros(100),
             "f2": w(10, 100), "g2": np.zeros(10)}
    N = helper.make_node
    nodes = [N("Conv", ["x", "c1", "b1"], ["a1"], strides=[2, 2], pads=[1, 1, 1, 1]),
             N("Relu", ["a1"], ["r1"]),
             N("Conv", ["r1", "c2", "b2"], ["a2"], strides=[2, 2], pads=[1, 1, 1, 1]),
             N("Relu", ["a2"], ["r2"]), N("Flatten", ["r2"], ["fl"]),
             N("Gemm", ["fl", "f1", "g1"], ["h"], transB=1), N("Relu", ["h"], ["rh"]),
             N("Gemm", ["rh", "f2", "g2"], ["y"], transB=1)]
    dense_conv = 16 * 16 * 16 * 3 * 32 * 32 + 32 * 8 * 8 * 16 * 16 * 16
    return _model(nodes, inits, [1, 3, 32, 32], "cifar_cnn"), inits, dense_conv


def cifar10_small(rng):
    """The VNN-COMP cifar10_small shape: conv 3->16 (4x4, stride 2), relu, conv 16->32 (4x4,
    stride 2), relu, flatten, fc 1152->100, relu, fc 100->10 on 3x32x32."""
    w = lambda *s: rng.normal(0, 1 / np.sqrt(np.prod(s[1:])), s)
    inits = {"c1": w(16, 3, 4, 4), "b1": w(16, 1)[:, 0] * 0.1, "c2": w(32, 16, 4, 4),
             "b2": w(32, 1)[:, 0] * 0.1, "f1": w(100, 1152), "g1": np.zeros(100),
             "f2": w(10, 100), "g2": np.zeros(10)}
    N = helper.make_node
    nodes = [N("Conv", ["x", "c1", "b1"], ["a1"], strides=[2, 2]), N("Relu", ["a1"], ["r1"]),
             N("Conv", ["r1", "c2", "b2"], ["a2"], strides=[2, 2]), N("Relu", ["a2"], ["r2"]),
             N("Flatten", ["r2"], ["fl"]), N("Gemm", ["fl", "f1", "g1"], ["h"], transB=1),
             N("Relu", ["h"], ["rh"]), N("Gemm", ["rh", "f2", "g2"], ["y"], transB=1)]
    dense_conv = 16 * 15 * 15 * 3 * 32 * 32 + 32 * 6 * 6 * 16 * 15 * 15
    return _model(nodes, inits, [1, 3, 32, 32], "cifar10_small"), inits, dense_conv


def mlp(rng, sizes=(784, 256, 256, 256, 10)):
    inits, nodes, cur = {}, [], "x"
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        inits[f"W{k}"] = rng.normal(0, 1 / np.sqrt(a), (b, a))
        inits[f"b{k}"] = np.zeros(b)
        out = "y" if k == len(sizes) - 2 else f"z{k}"
        nodes.append(helper.make_node("Gemm", [cur, f"W{k}", f"b{k}"], [out], transB=1))
        if out != "y":
            nodes.append(helper.make_node("Relu", [out], [f"h{k}"]))
            cur = f"h{k}"
    return _model(nodes, inits, [1, sizes[0]], "mlp_784_256x3_10"), inits, 0


def _highs_read_seconds(path: Path) -> float:
    import highspy
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    t0 = time.perf_counter()
    h.readModel(str(path))
    return time.perf_counter() - t0


def run(name, model, inits, dense_conv, domain, bounds: str, tmp: Path) -> dict:
    path = tmp / f"{name}.onnx"
    onnx.save(model, str(path))
    t0 = time.perf_counter()
    net = lipc.load(path)
    t1 = time.perf_counter()
    p, low = lipc.compile(net, domain, output="0-1", input_norm="linf",
                          compile_options=CompileOptions(bounds=bounds))
    t2 = time.perf_counter()
    write(low.mip, tmp / f"{name}.mps")
    t3 = time.perf_counter()
    weights = sum(int(np.count_nonzero(v)) for v in inits.values())
    return dict(network=name, bounds=bounds, weights=weights, nnz=low.mip.nnz,
                dense_conv=dense_conv, binaries=low.mip.meta["binaries"], load=t1 - t0,
                compile=t2 - t1, write=t3 - t2, highs_read=_highs_read_seconds(tmp / f"{name}.mps"))


NETWORKS = [("cifar_cnn", cifar_cnn, "linf:0.5:0.01:0:1"),
            ("cifar10_small", cifar10_small, "linf:0.5:0.00784313725490196:0:1"),   # eps 2/255
            ("mlp_784_256x3_10", mlp, "linf:0.5:0.01:0:1"),
            ("mlp_784_1024x2_10", lambda rng: mlp(rng, (784, 1024, 1024, 10)), "linf:0.5:0.01:0:1")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default=",".join(n for n, _, _ in NETWORKS),
                    help="comma-separated names (default: all)")
    ap.add_argument("--bounds", default="interval,auto", help="comma-separated bound methods")
    args = ap.parse_args()
    chosen = args.networks.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, make, domain in NETWORKS:
            if name in chosen:
                for bounds in args.bounds.split(","):
                    rows.append(run(name, *make(np.random.default_rng(0)), domain, bounds, tmp))
    print(f"{'network':18} {'bounds':8} {'weights':>9} {'MIP nnz':>10} {'dense conv nnz':>15} "
          f"{'binaries':>9} {'load s':>7} {'compile s':>9} {'write s':>8} {'HiGHS read s':>12} "
          f"{'(c+w)/read':>10}")
    for r in rows:
        print(f"{r['network']:18} {r['bounds']:8} {r['weights']:>9} {r['nnz']:>10} "
              f"{r['dense_conv'] or '-':>15} {r['binaries']:>9} {r['load']:>7.2f} "
              f"{r['compile']:>9.2f} {r['write']:>8.2f} {r['highs_read']:>12.2f} "
              f"{(r['compile'] + r['write']) / r['highs_read']:>10.2f}")


if __name__ == "__main__":
    main()
