"""Regenerate this VNN-COMP-style benchmark folder (seeded, deterministic):

    python examples/vnncomp/make_vnncomp.py

Two tiny ReLU classifiers (4 inputs, 3 classes; one gzipped as VNN-COMP ships large files) and
two properties over their inputs (one gzipped), all four pairs listed in instances.csv.
"""
import gzip
from pathlib import Path

import numpy as np

from lipc.frontends.onnx.writer import onnx_mlp, random_mlp

HERE = Path(__file__).resolve().parent


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)        # no time in the header: reproducible bytes


def main() -> None:
    (HERE / "onnx").mkdir(exist_ok=True)
    for file, sizes, seed in (("net_4_8_3.onnx", [4, 8, 3], 1),
                              ("net_4_6_6_3.onnx.gz", [4, 6, 6, 3], 2)):
        data = onnx_mlp(*random_mlp(np.random.default_rng(seed), sizes)).SerializeToString()
        (HERE / "onnx" / file).write_bytes(gz(data) if file.endswith(".gz") else data)
    (HERE / "vnnlib").mkdir(exist_ok=True)
    (HERE / "vnnlib" / "robust_0.vnnlib").write_text(PROP_ROBUST)
    (HERE / "vnnlib" / "order_1_2.vnnlib.gz").write_bytes(gz(PROP_ORDER.encode()))
    (HERE / "instances.csv").write_text(
        "onnx/net_4_8_3.onnx,vnnlib/robust_0.vnnlib,30\n"
        "onnx/net_4_8_3.onnx,vnnlib/order_1_2.vnnlib.gz,30\n"
        "onnx/net_4_6_6_3.onnx.gz,vnnlib/robust_0.vnnlib,30\n"
        "onnx/net_4_6_6_3.onnx.gz,vnnlib/order_1_2.vnnlib.gz,30\n")


DECLARE = "".join(f"(declare-const X_{i} Real)\n" for i in range(4)) + \
    "".join(f"(declare-const Y_{i} Real)\n" for i in range(3))

# l_inf ball of radius 0.1 around 0.5; the property: class 0 stays on top (its negation asserted)
PROP_ROBUST = "; robustness of class 0 around (0.5, 0.5, 0.5, 0.5), radius 0.1\n" + DECLARE + \
    "".join(f"(assert (>= X_{i} 0.4))\n(assert (<= X_{i} 0.6))\n" for i in range(4)) + \
    "(assert (or (and (>= Y_1 Y_0)) (and (>= Y_2 Y_0))))\n"

# the box [0, 1]^4 cut by x_0 + x_1 <= 1; the property: Y_1 stays below Y_2
PROP_ORDER = "; output 1 never exceeds output 2 on a cut box\n" + DECLARE + \
    "".join(f"(assert (>= X_{i} 0.0))\n(assert (<= X_{i} 1.0))\n" for i in range(4)) + \
    "(assert (<= (+ X_0 X_1) 1.0))\n(assert (>= Y_1 Y_2))\n"

if __name__ == "__main__":
    main()
