"""Plots of ``lipc track`` results: the Lipschitz constant against the training step.

One line per (series, method).  How a point is drawn says what it guarantees: exact values (a
proved, verified LipMIP optimum) are large filled circles; where a LipMIP solve stopped at its
limit the certified interval [lower, upper] is drawn as an error bar around a hollow marker;
certified upper and lower bounds use up and down triangles on dashed lines, heuristics crosses on
dotted lines.  matplotlib is an optional extra (``lipc[plot]``); the Agg back end needs no display.
"""
from __future__ import annotations

import io
from pathlib import Path

from ..emit import write_bytes
from ..errors import LipcError

STYLE = {  # guarantee -> (marker, line style)
    "exact": ("o", "-"), "upper": ("^", "--"), "lower": ("v", "--"), "heuristic": ("x", ":")}
FORMATS = (".png", ".svg", ".pdf")


def pyplot():
    """matplotlib.pyplot on the Agg back end, or a LipcError naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise LipcError("--plot needs matplotlib: pip install 'lipc[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _label(series: str, method: str, n_series: int, n_methods: int) -> str:
    if n_series == 1:
        return method
    return series if n_methods == 1 else f"{series} / {method}"


def draw_track(ax, rows: list[dict], title: str | None = None, ylabel: str | None = None) -> None:
    """Draw track rows on the matplotlib axes ``ax`` (a panel of a larger figure, or alone)."""
    rows = [r for r in rows if r.get("value") is not None or r.get("upper") is not None]
    if not rows:
        raise LipcError("nothing to plot: no row has a value")
    series = list(dict.fromkeys(r["series"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for s in series:
        for m in methods:
            pts = sorted((r for r in rows if r["series"] == s and r["method"] == m),
                         key=lambda r: r["step"])
            if not pts:
                continue
            marker, line = STYLE.get(pts[0]["guarantee"], ("s", "-"))
            steps = [r["step"] for r in pts]
            vals = [r["value"] if r["value"] is not None else r["upper"] for r in pts]
            (ln,) = ax.plot(steps, vals, linestyle=line, marker=marker, markersize=5,
                            label=_label(s, m, len(series), len(methods)))
            if pts[0]["guarantee"] != "exact":
                continue
            exact = [(r["step"], r["value"]) for r in pts if r["status"] == "optimal"]
            if exact:
                ax.plot(*zip(*exact), linestyle="none", marker="o", markersize=8,
                        color=ln.get_color(), zorder=3)
            open_ = [r for r in pts if r["status"] != "optimal" and r["upper"] is not None]
            for r in open_:            # a solve stopped at its limit: the certified interval
                lo = r["lower"] if r["lower"] is not None else 0.0
                half = (r["upper"] - lo) / 2
                ax.errorbar([r["step"]], [lo + half], yerr=[[half], [half]], fmt="o",
                            mfc="white", capsize=4, color=ln.get_color(), zorder=3)
    if any(r["guarantee"] == "exact" and r["status"] != "optimal" for r in rows):
        ax.plot([], [], "o", mfc="white", color="gray",
                label="certified interval (not proved exact)")
    vals = [r["value"] for r in rows if r.get("value")]
    if vals and min(vals) > 0 and max(vals) / min(vals) > 30:
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel or "local Lipschitz constant")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")


def check_destination(path: str | Path) -> None:
    """Refuse an image path lipc cannot write before any work: an unknown format, a missing
    folder, or no matplotlib."""
    p = Path(path)
    if p.suffix.lower() not in FORMATS or not p.stem:
        raise LipcError(f"cannot tell the image format of {path}: use {', '.join(FORMATS)}")
    if not p.resolve().parent.is_dir():
        raise LipcError(f"cannot write {path}: folder {p.resolve().parent} does not exist")
    pyplot()


def save_figure(fig, path: str | Path) -> None:
    """Write a figure atomically in the format of the path's suffix (.png, .svg, .pdf)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise LipcError(f"cannot tell the image format of {path}: use {', '.join(FORMATS)}")
    buf = io.BytesIO()
    fig.savefig(buf, format=suffix[1:], dpi=120, bbox_inches="tight")
    try:
        write_bytes(path, buf.getvalue())
    except OSError as e:
        raise LipcError(f"cannot write {path}: {e.strerror or e}") from e


def plot_track(rows: list[dict], path: str | Path, title: str | None = None,
               ylabel: str | None = None) -> None:
    """One panel: value against training step, a line per series and method."""
    check_destination(path)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    try:
        draw_track(ax, rows, title, ylabel)
        save_figure(fig, path)
    finally:
        plt.close(fig)
