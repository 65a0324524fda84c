"""Reproduce the LipMIP paper's Figure 1 with lipc: Lipschitz constants through training.

A [10, 20, 30, 20, 2] ReLU network (the paper's synthetic shape) is trained with plain numpy
(lipc.studies.training: full-batch Adam, seeded) on the synthetic cluster data set in [0, 1]^10 under four
schemes: no regularisation, l2 weight decay, an l1 weight penalty and FGSM adversarial training.
Checkpoints are saved as ONNX along the way; ``lipc track`` (lipc.studies.track.track, two worker
processes, resumable) then computes

* left panel: every estimator against LipMIP's exact value on the unregularised run;
* right panel: LipMIP's exact value through training for the four schemes;

over the unit hypercube, for the margin f0 - f1 and the l_inf input norm (as the paper's
synthetic experiments).  Writes checkpoints/, results/{left,right}/track.csv and figure1.png
next to this file.  Needs the estimators and plot extras (pip install 'lipc[estimators,plot]').

    python examples/training/figure1.py [--workers 2] [--time-limit 300]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lipc.studies.plot import pyplot, draw_track, save_figure
from lipc.question.question import Question
from lipc.studies.track import Tracking, discover, track
from lipc.studies.training import accuracy, mlp_onnx_bytes, synthetic_clusters, train_mlp
from lipc.util.workers import Parallelism

HERE = Path(__file__).resolve().parent
SIZES = [10, 20, 30, 20, 2]
SEED = 0
EPOCHS = 600
CHECKPOINTS = [25, 50, 100, 200, 300, 400, 500, 600]     # epoch 0 has zero biases: see README
SCHEMES = {  # name -> train_mlp keyword arguments
    "none": dict(regularizer="none"),
    "l2": dict(regularizer="l2", strength=5e-4),           # loss + 5e-4 * sum W^2
    "l1": dict(regularizer="l1", strength=5e-4),           # loss + 5e-4 * sum |W|
    "fgsm": dict(regularizer="fgsm", fgsm_eps=0.05),       # 50/50 clean and FGSM points
}
ESTIMATORS = ["randomlb", "clever", "fastlip", "liplp", "seqlip", "lipsdp", "naiveub"]


def train_run(folder: Path, checkpoints: list[int], **kw) -> float:
    """Train one scheme (deterministic), write its checkpoints to ``folder``; final train
    accuracy."""
    X, y = synthetic_clusters(SEED, n=300, dim=SIZES[0])
    folder.mkdir(parents=True, exist_ok=True)

    def save(epoch, Ws, bs):
        (folder / f"epoch_{epoch:04d}.onnx").write_bytes(mlp_onnx_bytes(Ws, bs))
    Ws, bs = train_mlp(X, y, SIZES, SEED, epochs=EPOCHS, checkpoints=checkpoints,
                       on_checkpoint=save, **kw)
    return accuracy(Ws, bs, X, y)


def make_checkpoints() -> dict[str, float]:
    return {name: train_run(HERE / "checkpoints" / name, CHECKPOINTS, **kw)
            for name, kw in SCHEMES.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", "-j", type=int, default=2)
    ap.add_argument("--time-limit", "-t", type=float, default=300.0)
    args = ap.parse_args()
    acc = make_checkpoints()
    print("final train accuracy:", {k: round(v, 3) for k, v in acc.items()})
    q = Tracking(Question("box:0:1", output="0-1"), time_limit=args.time_limit)
    par = Parallelism(workers=args.workers)
    ckpt = HERE / "checkpoints"
    right = track(discover([str(ckpt / s) for s in SCHEMES]), q, ["lipmip"],
                  HERE / "results" / "right", par, progress=sys.stderr)
    left = track(discover([str(ckpt / "none")]), q, ESTIMATORS, HERE / "results" / "left", par,
                 progress=sys.stderr)
    exact_none = [r for r in right.rows if r["series"] == "none"]
    plt = pyplot()
    fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(13, 4.8))
    draw_track(ax_l, exact_none + left.rows, "estimators vs LipMIP (no regularisation)",
               "local Lipschitz constant of f0 - f1 (l_inf)")
    draw_track(ax_r, right.rows, "LipMIP through training, by regulariser",
               "local Lipschitz constant of f0 - f1 (l_inf)")
    save_figure(fig, HERE / "figure1.png")
    summary = summarise(exact_none, left.rows, right.rows)
    (HERE / "results" / "summary.md").write_text(summary)
    print(summary)
    print(f"wrote {HERE / 'figure1.png'} and {HERE / 'results' / 'summary.md'}")


def _cell(r: dict) -> str:
    """An exact value, or the certified interval of a solve that stopped at its limit."""
    if r["status"] == "optimal":
        return f"{r['value']:.1f}"
    return f"[{r['lower']:.1f}, {r['upper']:.1f}]"


def summarise(exact: list[dict], estimates: list[dict], schemes: list[dict]) -> str:
    """Markdown tables: each estimator's relative error to the exact value per checkpoint
    (left panel), and the exact constant of every scheme per checkpoint (right panel)."""
    truth = {r["step"]: r["value"] for r in exact if r["status"] == "optimal"}
    steps = sorted({r["step"] for r in estimates})
    lines = ["## Left panel: relative error (estimate - exact) / exact, no regularisation", "",
             "| method | guarantee | " + " | ".join(f"step {s}" for s in steps) + " |",
             "|---|---|" + "---|" * len(steps),
             "| lipmip (exact) | exact | " + " | ".join(
                 f"{truth[s]:.1f}" if s in truth else "-" for s in steps) + " |"]
    for m in ESTIMATORS:
        rows = {r["step"]: r for r in estimates if r["method"] == m}
        cells = [f"{(rows[s]['value'] - truth[s]) / truth[s]:+.1%}"
                 if s in truth and s in rows and rows[s]["value"] is not None else "-"
                 for s in steps]
        guarantee = next(iter(rows.values()))["guarantee"] if rows else ""
        lines.append(f"| {m} | {guarantee} | " + " | ".join(cells) + " |")
    steps = sorted({r["step"] for r in schemes})
    lines += ["", "## Right panel: exact local Lipschitz constant (LipMIP) by scheme", "",
              "| scheme | " + " | ".join(f"step {s}" for s in steps) + " |",
              "|---|" + "---|" * len(steps)]
    for name in SCHEMES:
        rows = {r["step"]: r for r in schemes if r["series"] == name}
        lines.append(f"| {name} | " + " | ".join(_cell(rows[s]) for s in steps) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
