"""The report's plots: quality against throughput (with each figure's interval) and the training curves."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from stillroom.recipe.artifacts import atomic_path  # noqa: E402


def plot_quality_vs_throughput(report: Mapping[str, Any], metric: str, path: Path) -> None:
    """Each timed model as a point with its interval as an error bar; each baseline (not timed) as a line and a band."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, result in report["models"].items():
        x, y = result["throughput_pairs_per_s"], result["metrics"].get(metric, 0.0)
        low, high = result.get("ci", {}).get(metric, (y, y))
        if x is None:
            ax.axhline(y, linestyle=":", color="grey")
            ax.axhspan(low, high, color="grey", alpha=0.1)
            ax.annotate(name, (0.01, y), xycoords=("axes fraction", "data"), textcoords="offset points", xytext=(0, 3), color="grey")
            continue
        ax.errorbar([x], [y], yerr=[[y - low], [high - y]], fmt="o", capsize=4, markersize=7)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4))
    ax.set_xscale("log")
    ax.set_xlabel("throughput (pairs/s, log scale)")
    ax.set_ylabel(f"{metric}, golden test ({report['intervals']['confidence']:.0%} interval)")
    ax.set_title(f"{report['product']}: quality against throughput")
    ax.grid(True, alpha=0.3)
    _save(fig, path)


def plot_training_curves(curves: Mapping[str, list[dict[str, float]]], path: Path) -> None:
    fig, axes = plt.subplots(1, max(1, len(curves)), figsize=(5 * max(1, len(curves)), 3.5), squeeze=False)
    for ax, (name, rows) in zip(axes[0], curves.items(), strict=False):
        for key in sorted({k for row in rows for k in row if k.startswith(("train/", "val/"))}):
            points = [(row["step"], row[key]) for row in rows if key in row]
            ax.plot(*zip(*points, strict=True), marker="o" if key.startswith("val/") else None, label=key)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
