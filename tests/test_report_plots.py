"""The report's plots: losses and ranking figures on separate, labelled axes."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillroom.evaluation import report_plots


def test_losses_and_ranking_figures_get_their_own_labelled_axes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = []
    monkeypatch.setattr(report_plots, "_save", lambda fig, path: drawn.append(fig))
    rows = [{"step": 1.0, "train/loss": 2.0}, {"step": 2.0, "train/loss": 1.5, "val/ce": 1.4, "val/ndcg": 0.61}]
    report_plots.plot_training_curves({"teacher": rows, "student": rows[1:]}, tmp_path / "curves.png")
    [fig] = drawn
    losses, ranking = fig.axes[0], fig.axes[2]  # the teacher's column: losses above, ranking figures below
    assert {line.get_label() for line in losses.lines} == {"train/loss", "val/ce"}
    assert {line.get_label() for line in ranking.lines} == {"val/ndcg"}
    assert losses.get_ylabel().startswith("loss") and ranking.get_ylabel().startswith("golden dev figure")
    assert ranking.get_xlabel() == "training step" and losses.get_title() == "teacher"
    assert report_plots.is_ranking_figure("val/mrr@10") and not report_plots.is_ranking_figure("train/hard_label_ce")
