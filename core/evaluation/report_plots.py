"""The report's plots: quality against throughput (with each figure's interval) and the training curves."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator  # noqa: E402

from stillroom.files import atomic_path  # noqa: E402


def plot_quality_vs_throughput(report: Mapping[str, Any], metric: str, path: Path) -> None:
    """Each timed model (a baseline that serves as a ranker too) as a point with its interval as an error bar; each
    untimed baseline as a line and a band.

    Every name is in the legend, not beside its mark, so that two close figures never print over each other.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3)
    speeds = [r["throughput_pairs_per_s"] for r in report["models"].values() if r["throughput_pairs_per_s"]]
    for name, result in report["models"].items():
        x, y = result["throughput_pairs_per_s"], result["metrics"].get(metric, 0.0)
        low, high = result.get("ci", {}).get(metric, (y, y))
        color = next(colors)
        if x is None:
            ax.axhline(y, linestyle=":", color=color, label=f"{name} (not timed)")
            ax.axhspan(low, high, color=color, alpha=0.08)
            continue
        ax.errorbar([x], [y], yerr=[[y - low], [high - y]], fmt="o", capsize=4, markersize=7, color=color, label=name)
    log_throughput_axis(ax, speeds)
    ax.set_xlabel("throughput (pairs/s, log scale)")
    ax.set_ylabel(f"{metric}, golden test ({report['intervals']['confidence']:.0%} interval)")
    ax.set_title(f"{report['product']}: quality against throughput")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    _save(fig, path)


def log_throughput_axis(ax: plt.Axes, speeds: list[float]) -> None:
    """A log x axis of pairs per second that reads at a glance: ticks at 1, 2 and 5 of each decade, written out
    ("1,000", not "10^3"), with half a decade of room either side of the points."""
    ax.set_xscale("log")
    if speeds:
        ax.set_xlim(min(speeds) / 2, max(speeds) * 2)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


RANKING_FIGURES = ("ndcg", "mrr", "map", "auc", "kappa", "recall", "precision")
"""Curve names (after ``val/``) that are ranking figures, higher is better, on a 0-1 scale; the rest are losses."""


def is_ranking_figure(key: str) -> bool:
    """Whether a history key (``val/ndcg``, ``train/loss``) is a ranking figure rather than a loss."""
    return key.partition("/")[2].startswith(RANKING_FIGURES)


def plot_training_curves(curves: Mapping[str, list[dict[str, float]]], path: Path) -> None:
    """One column per trained model: its losses by step above (training terms, dev cross-entropy at each epoch as dots),
    its dev ranking figures at each epoch below, each on its own labelled axis: a loss and an NDCG share no scale."""
    columns = max(1, len(curves))
    fig, axes = plt.subplots(2, columns, figsize=(5 * columns, 7.5), squeeze=False, sharex="col")
    for column, (name, rows) in enumerate(curves.items()):
        losses, ranking = axes[0][column], axes[1][column]
        for key in sorted({k for row in rows for k in row if k.startswith(("train/", "val/"))}):
            points = [(row["step"], row[key]) for row in rows if key in row]
            ax = ranking if is_ranking_figure(key) else losses
            ax.plot(*zip(*points, strict=True), marker="o" if key.startswith("val/") else None, label=key)
        losses.set_title(name)
        losses.set_ylabel("loss (train by step, dev by epoch)")
        ranking.set_ylabel("golden dev figure (higher is better)")
        ranking.set_xlabel("training step")
        for ax in (losses, ranking):
            if ax.lines:
                ax.legend(fontsize=7, loc="best", frameon=False)
            else:
                ax.text(0.5, 0.5, "none recorded", ha="center", va="center", transform=ax.transAxes, color="gray")
            ax.grid(True, alpha=0.3)
    _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
