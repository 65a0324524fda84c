"""Reproduce the two settings of the LipMIP paper's Table 1 on networks lipc trains itself.

* Binary digits: scikit-learn's bundled 8x8 digits, 1 vs 7 (the paper used MNIST 1 vs 7 with
  [784, 20, 20, 20, 2]; here [64, 20, 20, 20, 2]), l_inf balls of radius 0.1 around test points;
* Synthetic: [10, 20, 30, 20, 2] trained on a random-cluster data set in [0, 1]^10, evaluated
  over the unit hypercube (as in the paper).

Both nets are trained with plain numpy (lipc.studies.training: full-batch Adam, cross-entropy), seeded.
For each instance ``lipc.compare`` runs every estimator on the margin f0 - f1 with the l_inf
input norm; relative errors are against LipMIP's exact value (instances LipMIP does not solve
within the time limit are reported, and left out of the averages).  Writes
benchmarks/results/table1.md and .csv next to the paper's numbers.  Needs the `bench` and
`estimators` extras.

    python benchmarks/table1.py [--instances 3] [--time-limit 120]
"""
from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

import lipc                                        # noqa: E402
from lipc.question.domain import Domain                     # noqa: E402
from lipc.studies.training import synthetic_clusters, train_mlp  # noqa: E402
from lipc.frontends.onnx.writer import save_mlp                        # noqa: E402

PAPER = {   # method: (guarantee, MNIST rel. err., synthetic rel. err.) from the paper's Table 1
    "randomlb": ("lower", "-41.96%", "-32.68%"), "clever": ("heuristic", "-36.97%", "+28.45%"),
    "lipmip": ("exact", "0.00%", "0.00%"), "liplp": ("upper", "+39.39%", "+362.43%"),
    "fastlip": ("upper", "+63.41%", "+388.14%"), "lipsdp": ("upper", "+113.92%", "+39.07%"),
    "seqlip": ("heuristic", "+119.53%", "+98.98%"), "naiveub": ("upper", "+212.68%", "+996.96%"),
}


def digits(seed):
    from sklearn.datasets import load_digits
    data = load_digits()
    keep = np.isin(data.target, [1, 7])
    X, y = data.data[keep] / 16.0, (data.target[keep] == 7).astype(int)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    X, y = X[order], y[order]
    return train_mlp(X[:250], y[:250], [64, 20, 20, 20, 2], seed), X[250:]


def synthetic(seed, n=300, k=10):
    """The net trained on lipc.studies.training.synthetic_clusters(seed): random clusters in [0,1]^10."""
    X, y = synthetic_clusters(seed, n=n, dim=10, k=k)
    return train_mlp(X, y, [10, 20, 30, 20, 2], seed)


def run(args) -> list[dict]:
    rows = []
    opts = lipc.SolveOptions(time_limit=args.time_limit)
    with tempfile.TemporaryDirectory() as tmp:
        (Ws, bs), test = digits(0)
        net = lipc.load(save_mlp(Path(tmp) / "digits.onnx", Ws, bs, dtype=np.float64))
        for i in range(args.instances):
            x0 = test[i]
            dom = Domain(np.clip(x0 - 0.1, 0, 1), np.clip(x0 + 0.1, 0, 1), description="digits")
            rows.append(("digits", i, lipc.compare(net, dom, output="0-1", options=opts)))
        for i in range(args.instances):
            Ws, bs = synthetic(100 + i)
            net = lipc.load(save_mlp(Path(tmp) / f"syn{i}.onnx", Ws, bs, dtype=np.float64))
            rows.append(("synthetic", i, lipc.compare(net, "box:0:1", output="0-1", options=opts)))
    out = []
    for setting, i, comp in rows:
        for r in comp.rows:
            out.append(dict(setting=setting, instance=i, method=r["method"],
                            guarantee=r["guarantee"], value=r["value"], seconds=r["seconds"],
                            exact=comp.exact, rel_err=r.get("relative_error")))
    return out


def summarise(rows: list[dict]) -> str:
    lines = ["| method | guarantee | digits time (s) | digits rel. err. | paper MNIST rel. err. "
             "| synthetic time (s) | synthetic rel. err. | paper synthetic rel. err. |",
             "|---|---|---|---|---|---|---|---|"]
    for method, (guarantee, p_mnist, p_syn) in PAPER.items():
        cells = []
        for setting in ("digits", "synthetic"):
            rs = [r for r in rows if r["setting"] == setting and r["method"] == method]
            times = [r["seconds"] for r in rs]
            errs = [r["rel_err"] for r in rs if r["rel_err"] is not None]
            t = f"{statistics.mean(times):.3f} ± {statistics.pstdev(times):.3f}" if times else "-"
            e = f"{100 * statistics.mean(errs):+.2f}% ({len(errs)}/{len(rs)})" if errs else "-"
            cells.append((t, e))
        lines.append(f"| {method} | {guarantee} | {cells[0][0]} | {cells[0][1]} | {p_mnist} | "
                     f"{cells[1][0]} | {cells[1][1]} | {p_syn} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=120.0)
    args = ap.parse_args()
    rows = run(args)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    with open(results / "table1.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    table = summarise(rows)
    (results / "table1.md").write_text(
        "# Table 1 reproduced (benchmarks/table1.py)\n\nRelative error = mean over instances "
        "LipMIP solved exactly (count in brackets); times are mean ± std.\n\n" + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
