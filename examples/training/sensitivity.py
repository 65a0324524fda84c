"""How robust are Figure 1's regulariser observations to the regularisation strength?

Trains the Figure 1 network (figure1.py: same data, seed, epochs and optimiser) with weaker and
stronger l2 / l1 penalties and FGSM radii, and computes the exact constant (LipMIP, via
``lipc track``) of each final (epoch 600) network; writes results/sensitivity/track.csv.

    python examples/training/sensitivity.py [--workers 2] [--time-limit 300]
"""
from __future__ import annotations

import argparse
import sys

from figure1 import EPOCHS, HERE, train_run

from lipc.question.question import Question
from lipc.studies.track import Tracking, discover, track
from lipc.util.workers import Parallelism

VARIANTS = {  # folder name -> train_mlp keyword arguments (figure1.py's own settings included)
    "none": dict(regularizer="none"),
    "l2_5e-5": dict(regularizer="l2", strength=5e-5),
    "l2_5e-4": dict(regularizer="l2", strength=5e-4),
    "l2_5e-3": dict(regularizer="l2", strength=5e-3),
    "l1_5e-5": dict(regularizer="l1", strength=5e-5),
    "l1_5e-4": dict(regularizer="l1", strength=5e-4),
    "l1_5e-3": dict(regularizer="l1", strength=5e-3),
    "fgsm_0.02": dict(regularizer="fgsm", fgsm_eps=0.02),
    "fgsm_0.05": dict(regularizer="fgsm", fgsm_eps=0.05),
    "fgsm_0.1": dict(regularizer="fgsm", fgsm_eps=0.1),
    "fgsm_0.2": dict(regularizer="fgsm", fgsm_eps=0.2),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", "-j", type=int, default=2)
    ap.add_argument("--time-limit", "-t", type=float, default=300.0)
    args = ap.parse_args()
    root = HERE / "checkpoints_sensitivity"
    for name, kw in VARIANTS.items():
        acc = train_run(root / name, [EPOCHS], **kw)
        print(f"{name:10} train accuracy {acc:.3f}")
    q = Tracking(Question("box:0:1", output="0-1"), time_limit=args.time_limit)
    rep = track(discover([str(root / v) for v in VARIANTS]), q, ["lipmip"],
                HERE / "results" / "sensitivity", Parallelism(workers=args.workers),
                progress=sys.stderr)
    for r in rep.rows:
        print(f"{r['series']:10} {r['status']:10} [{r['lower']}, {r['upper']}]")


if __name__ == "__main__":
    main()
