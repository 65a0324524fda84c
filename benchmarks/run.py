"""lipc's default compilation against the original LipMIP formulation, on one solver (CBC).

    python benchmarks/run.py                    # the whole suite (~15 min on one core)
    python benchmarks/run.py --only A-0.05 B-0.1 --time-limit 30
    python benchmarks/run.py --throughput-only

The suite is fixed and seeded (networks are regenerated, nothing is downloaded):

* ``A``, ``B``, ``C``: random [10, 20, 30, 20, 2] networks with PyTorch's default initialisation
  (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases) — the paper's synthetic shape —
  on l_inf balls of radius 0.05-0.2 around random centres in [0, 1]^10 and on the unit cube;
* ``digits``: a [64, 20, 20, 20, 2] classifier of the digits 1 vs 7 (scikit-learn's bundled 8x8
  digits, pixels scaled to [0, 1], trained here by full-batch Adam with a fixed seed) on l_inf
  balls of radius 0.1 around test images, clipped to [0, 1] (skipped without scikit-learn).

Every instance asks for the l_inf-local Lipschitz constant of the margin f0 - f1.  Each is solved
with ``--formulation paper`` (interval bounds, the original encodings) and with lipc's defaults,
both by CBC through lipc's solve with the same time limit, one thread.  Printed: binaries, rows,
max big-M and matrix coefficient range, time (compile + solve) or the gap at the limit, the
values, the speed-up; unstable conditionals per bound method; compile throughput on a
784-1024-1024-10 network (nonzeros per second, lipc's MPS writer against python-mip building and
writing the same model).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import lipc                                        # noqa: E402
from lipc.compiler.pipeline import CompileOptions           # noqa: E402
from lipc.question.domain import Domain                     # noqa: E402
from lipc.frontends.onnx.writer import random_mlp, save_mlp            # noqa: E402

METHODS = ["interval", "symbolic", "lp", "mip"]


# ---------------------------------------------------------------------- the suite

def random_net(seed: int):
    return random_mlp(np.random.default_rng(seed), [10, 20, 30, 20, 2])


def digits_net(seed: int = 0):
    """[64, 20, 20, 20, 2] trained on digits 1 vs 7; returns (Ws, bs, test images)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = (d.target == 1) | (d.target == 7)
    X, y = d.data[keep] / 16.0, (d.target[keep] == 7).astype(int)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    X, y = X[perm], y[perm]
    n_train = int(0.8 * len(y))
    Ws, bs = random_mlp(rng, [64, 20, 20, 20, 2])
    params = Ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    Xt, yt = X[:n_train], y[:n_train]
    for step in range(1, 401):                      # full-batch Adam on cross-entropy
        hs, h = [Xt.T], Xt.T
        for W, b in zip(Ws[:-1], bs[:-1]):
            h = np.maximum(W @ h + b[:, None], 0)
            hs.append(h)
        z = Ws[-1] @ h + bs[-1][:, None]
        pz = np.exp(z - z.max(0))
        pz /= pz.sum(0)
        grad = pz.copy()
        grad[yt, np.arange(len(yt))] -= 1
        grad /= len(yt)
        gW, gb = [None] * len(Ws), [None] * len(Ws)
        for k in range(len(Ws) - 1, -1, -1):
            gW[k] = grad @ hs[k].T
            gb[k] = grad.sum(1)
            if k:
                grad = (Ws[k].T @ grad) * (hs[k] > 0)
        for i, g in enumerate(gW + gb):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] -= 0.01 * (m[i] / (1 - 0.9 ** step)) / (np.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8)
        Ws, bs = params[:len(Ws)], params[len(Ws):]
    # store float32-representable weights (the ONNX file holds them exactly)
    Ws = [W.astype(np.float32).astype(np.float64) for W in Ws]
    bs = [b.astype(np.float32).astype(np.float64) for b in bs]
    Xs = X[n_train:]
    acc = np.mean(np.argmax(_forward(Ws, bs, Xs.T), 0) == y[n_train:])
    return Ws, bs, Xs, float(acc)


def _forward(Ws, bs, h):
    for W, b in zip(Ws[:-1], bs[:-1]):
        h = np.maximum(W @ h + b[:, None], 0)
    return Ws[-1] @ h + bs[-1][:, None]


def suite(tmp: Path) -> list[dict]:
    inst = []
    nets = {k: random_net(s) for k, s in (("A", 1), ("B", 2), ("C", 3))}
    for key, (Ws, bs) in nets.items():
        path = save_mlp(tmp / f"{key}.onnx", Ws, bs)
        centre = np.random.default_rng(100 + ord(key)).uniform(0, 1, 10)
        radii = {"A": [0.05, 0.1, 0.15, 0.2], "B": [0.1, 0.2], "C": []}[key]
        for r in radii:
            inst.append(dict(name=f"{key}-{r}", path=path, lo=centre - r, hi=centre + r,
                             shape="[10,20,30,20,2]", domain=f"ball r={r}"))
        if key == "C":
            inst.append(dict(name="C-cube", path=path, lo=np.zeros(10), hi=np.ones(10),
                             shape="[10,20,30,20,2]", domain="[0,1]^10"))
    try:
        Ws, bs, Xs, acc = digits_net()
    except ImportError:
        print("(scikit-learn missing: digits instances skipped)", file=sys.stderr)
        return inst
    path = save_mlp(tmp / "digits.onnx", Ws, bs)
    for k in (0, 1):
        x = Xs[k]
        inst.append(dict(name=f"digits-{k}", path=path, lo=np.clip(x - 0.1, 0, 1),
                         hi=np.clip(x + 0.1, 0, 1), shape="[64,20,20,20,2]",
                         domain=f"ball r=0.1 in [0,1] (test acc {acc:.3f})"))
    return inst


# ---------------------------------------------------------------------- measurements

def solve(inst: dict, options: CompileOptions, time_limit: float) -> dict:
    from lipc.solvers import SolveOptions

    net = lipc.load(inst["path"])
    dom = Domain(inst["lo"], inst["hi"])
    t0 = time.perf_counter()
    p, low = lipc.compile(net, dom, output="0-1", input_norm="linf", compile_options=options)
    t_compile = time.perf_counter() - t0
    m = low.mip
    coef = np.abs(m.data[m.data != 0])
    row = dict(binaries=m.meta["binaries"], rows=m.n_rows, cols=m.n_cols, nnz=m.nnz,
               max_big_m=m.meta["max_big_m"],
               coef_range=[float(coef.min()), float(coef.max())] if coef.size else [0, 0],
               compile_s=t_compile)
    try:
        res = lipc.solve(net, dom, output="0-1", input_norm="linf",
                         options=SolveOptions(time_limit=time_limit, solver="cbc", threads=1,
                                              retry=False),
                         compile_options=options)
        row.update(status=res.status, value=res.value, lower=res.lower, upper=res.upper,
                   solve_s=res.seconds, gap=res.gap, nodes=res.nodes,
                   total_s=t_compile + res.seconds)
    except lipc.LipcError as exc:
        row.update(status="error", message=str(exc), total_s=None)
    return row


def unstable_counts(inst: dict, mip_budget: float) -> dict:
    import lipc.bounds.lp as BL

    net = lipc.load(inst["path"])
    dom = Domain(inst["lo"], inst["hi"])
    out = {}
    for meth in METHODS:
        saved = lipc.bounds.BOUND_METHODS["mip"]
        lipc.bounds.BOUND_METHODS["mip"] = lambda g: BL.infer_mip(g, budget=mip_budget)
        try:
            t0 = time.perf_counter()
            p = lipc.problem(net, dom, "0-1", "linf", CompileOptions(bounds=meth, passes=False))
            dt = time.perf_counter() - t0
        finally:
            lipc.bounds.BOUND_METHODS["mip"] = saved
        u = p.stats()["unstable"]
        gb = p.graph.bounds[p.gradient]
        out[meth] = dict(forward=u.get("forward", 0), norm=u.get("norm", 0), seconds=dt,
                         grad_width=float(np.sum(gb.hi - gb.lo)))
    return out


def throughput(tmp: Path) -> dict:
    """784-1024-1024-10 on a small l_inf ball: lipc compile + MPS write vs python-mip."""
    from lipc.solvers.cbc import build_model

    from lipc.emit import write

    rng = np.random.default_rng(0)
    Ws, bs = random_mlp(rng, [784, 1024, 1024, 10])
    path = save_mlp(tmp / "big.onnx", Ws, bs)
    net = lipc.load(path)
    x0 = rng.uniform(0, 1, 784)
    dom = Domain(np.clip(x0 - 0.01, 0, 1), np.clip(x0 + 0.01, 0, 1))
    out = {}
    for meth in ("auto", "interval"):
        t0 = time.perf_counter()
        p, low = lipc.compile(net, dom, output="0-1", input_norm="linf",
                              compile_options=CompileOptions(bounds=meth))
        t1 = time.perf_counter()
        write(low.mip, tmp / "big.mps")
        t2 = time.perf_counter()
        out[meth] = dict(compile_s=t1 - t0, write_s=t2 - t1, total_s=t2 - t0,
                         timings={k: round(v, 3) for k, v in p.timings.items()},
                         nnz=low.mip.nnz, binaries=low.mip.meta["binaries"])
    flat = low.mip
    # python-mip: the same model built through its API (lipc's CBC adapter builds it that
    # way), then written by CBC's writer
    t0 = time.perf_counter()
    m, _ = build_model(flat)
    t1 = time.perf_counter()
    m.write(str(tmp / "big_pymip.mps"))
    t2 = time.perf_counter()
    out["python-mip"] = dict(build_s=t1 - t0, write_s=t2 - t1, total_s=t2 - t0, nnz=flat.nnz)
    return out


# ---------------------------------------------------------------------- report

def _fmt_res(r: dict) -> str:
    if r.get("status") == "optimal":
        return f"{r['total_s']:.2f} s"
    if r.get("status") == "time_limit":
        gap = r.get("gap")
        return f"limit, gap {100 * gap:.0f} %" if gap is not None else "limit, no incumbent"
    return r.get("status", "?")


def _fmt_val(r: dict) -> str:
    if r.get("value") is not None:
        return f"{r['value']:.8g}"
    lo, up = r.get("lower"), r.get("upper")
    return f"[{lo if lo is None else f'{lo:.4g}'}, {up if up is None else f'{up:.4g}'}]"


def report(rows: list[dict], counts: dict, tp: dict | None, time_limit: float) -> str:
    out = [f"CBC (python-mip 2.0), 1 thread, time limit {time_limit:g} s per solve; time = "
           "compile + solve", "",
           "| instance | domain | formulation | binaries | rows | max big-M | coef range | "
           "result | value | speed-up |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    speedups, solved = [], {"paper": 0, "lipc": 0}
    for r in rows:
        pa, li = r["paper"], r["lipc"]
        for k in ("paper", "lipc"):
            solved[k] += r[k].get("status") == "optimal"
        sp = ""
        if li.get("status") == "optimal":
            t_li = li["total_s"]
            if pa.get("status") == "optimal":
                s = pa["total_s"] / t_li
                sp = f"{s:.1f}x"
                speedups.append(s)
            elif pa.get("status") == "time_limit":
                s = time_limit / t_li
                sp = f"> {s:.0f}x"
                speedups.append(s)
        for k, res in (("paper", pa), ("lipc", li)):
            cr = res["coef_range"]
            out.append(f"| {r['name'] if k == 'paper' else ''} | "
                       f"{r['domain'] if k == 'paper' else ''} | {k} | {res['binaries']} | "
                       f"{res['rows']} | {res['max_big_m']:.3g} | [{cr[0]:.1e}, {cr[1]:.1e}] | "
                       f"{_fmt_res(res)} | {_fmt_val(res)} | {sp if k == 'lipc' else ''} |")
    out.append("")
    if speedups:
        out.append(f"median speed-up (lipc default over paper; a paper time-out counts as the "
                   f"limit): {statistics.median(speedups):.1f}x over {len(speedups)} instances")
    out.append(f"solved within the limit: paper {solved['paper']}/{len(rows)}, "
               f"lipc {solved['lipc']}/{len(rows)}")
    out += ["", "Unstable conditionals (forward ReLUs + gradient signs) per bound method, and "
            "the time of bound inference:", "",
            "| instance | " + " | ".join(METHODS) + " |",
            "|---|" + "---|" * len(METHODS)]
    for name, c in counts.items():
        cells = [f"{c[m]['forward']} + {c[m]['norm']} ({c[m]['seconds']:.2f} s)" for m in METHODS]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    if tp:
        out += ["", "Compile throughput, 784-1024-1024-10, l_inf ball r = 0.01 in [0,1]^784:", "",
                "| pipeline | bounds + lowering | MPS write | total | nonzeros | nonzeros/s (write) |"
                " nonzeros/s (end to end) |", "|---|---|---|---|---|---|---|"]
        for k in ("auto", "interval"):
            t = tp[k]
            out.append(f"| lipc --bounds {k} | {t['compile_s']:.2f} s | {t['write_s']:.2f} s | "
                       f"{t['total_s']:.2f} s | {t['nnz']} | {t['nnz'] / t['write_s']:.3g} | "
                       f"{t['nnz'] / t['total_s']:.3g} |")
        t = tp["python-mip"]
        out.append(f"| python-mip (build + write of the same model) | {t['build_s']:.2f} s | "
                   f"{t['write_s']:.2f} s | {t['total_s']:.2f} s | {t['nnz']} | "
                   f"{t['nnz'] / t['write_s']:.3g} | {t['nnz'] / t['total_s']:.3g} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--only", nargs="*", help="instance names (default: all)")
    ap.add_argument("--mip-budget", type=float, default=10.0,
                    help="seconds of MIP bound tightening per instance for the counts table")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--throughput-only", action="store_true")
    ap.add_argument("--json", help="also write the raw measurements here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows, counts, tp = [], {}, None
        if not args.throughput_only:
            for inst in suite(tmp):
                if args.only and inst["name"] not in args.only:
                    continue
                print(f"[{inst['name']}]", file=sys.stderr, flush=True)
                counts[inst["name"]] = unstable_counts(inst, args.mip_budget)
                row = dict(name=inst["name"], domain=inst["domain"], shape=inst["shape"])
                row["paper"] = solve(inst, CompileOptions(formulation="paper"), args.time_limit)
                row["lipc"] = solve(inst, CompileOptions(), args.time_limit)
                print(f"  paper {_fmt_res(row['paper'])} {_fmt_val(row['paper'])}; "
                      f"lipc {_fmt_res(row['lipc'])} {_fmt_val(row['lipc'])}",
                      file=sys.stderr, flush=True)
                rows.append(row)
        if not args.no_throughput:
            tp = throughput(tmp)
    print(report(rows, counts, tp, args.time_limit))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(rows=rows, counts=counts, throughput=tp),
                                              indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
