"""report.json, report.md and the plots: the one comparison every product gets.

``report.json`` keeps a stable shape that other readers rely on:

- ``models.<name>``: ``params``, ``throughput_pairs_per_s`` (``null`` for a
  baseline that is not timed: only one that serves as a ranker is), ``metrics`` (golden test), ``ci.<metric>``
  (``[low, high]``, the bootstrap interval over test requests of each
  per-request metric), ``dev_metrics`` (golden dev), ``details``; a baseline's
  entry has ``"baseline": true`` and no kappa;
- ``comparisons``: ``{"a", "b", "metric", "difference", "ci", "p_value",
  "verdict", "requests"}`` for each pair ``evaluator.comparisons`` names, the
  verdict ``better``, ``worse`` or ``not resolved`` (the interval holds 0);
- ``objective``: the figure a sweep optimises, on golden dev;
- ``splits``: which golden split each kind of figure comes from, and
  ``requests``: how many requests each split has;
- ``retained_ndcg@k`` and ``speedup`` of student over teacher;
  ``first_stage`` (``name``, ``k``, ``recall@k``) when the data came from a
  retrieval first stage; ``data_notes``: what the data source said of how it
  made the splits (a list of sentences, empty when it said nothing);
- ``training_curves``: each trained model's per-epoch history file and
  ``exported``: the folder to ship (``folder``, relative to the run directory like
  the history files) and whether it holds ``model.onnx`` (``onnx``);
- ``compliance``: what the compliance stage found (``null`` without one) and
  ``verdict``: ``{"ship", "for", "against", "compliance_failed"}``, the decision
  report.md opens with (:mod:`stillroom.evaluation.verdict`).

``report.md`` is the same for people (:mod:`stillroom.evaluation.report_words`), with
the plots (:mod:`stillroom.evaluation.report_plots`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stillroom.evaluation.report_plots import plot_quality_vs_throughput, plot_training_curves
from stillroom.evaluation.report_words import report_markdown
from stillroom.evaluation.verdict import decide
from stillroom.files import atomic_path, write_json
from stillroom.policy import Policy

SPLIT_OF_FIGURES = {  # which split each group of figures in report.json was measured on
    "metrics": "golden test",
    "ci": "golden test",
    "comparisons": "golden test",
    "dev_metrics": "golden dev",
    "objective": "golden dev",
}
"""Which golden split each kind of figure in report.json comes from: test is reported, dev is for choices."""


def primary_metric(k: int) -> str:
    """The figure the report leads with, retention is measured on and sweeps optimise by default."""
    return f"ndcg@{k}"


def objective(config: Mapping[str, Any], models: Mapping[str, Any]) -> dict[str, Any]:
    """The figure a sweep optimises (``evaluator.objective``): a model's metric on golden dev, ``None`` without dev."""
    wanted = config["evaluator"]["objective"]
    metric = wanted.get("metric") or primary_metric(config["evaluator"]["k"])
    value = models.get(wanted["model"], {}).get("dev_metrics", {}).get(metric)
    return {"model": wanted["model"], "split": "dev", "metric": metric, "value": value}


def build_report(
    config: Mapping[str, Any],
    policy: Policy,
    models: Mapping[str, Any],
    comparisons: Sequence[Mapping[str, Any]],
    requests: Mapping[str, int],
    curves: Mapping[str, str],
    gate: Mapping[str, Any] | None = None,
    first_stage: Mapping[str, Any] | None = None,
    exported: Mapping[str, Any] | None = None,
    compliance: Mapping[str, Any] | None = None,
    pairs: Mapping[str, int] | None = None,
    data_notes: Sequence[str] = (),
) -> dict[str, Any]:
    """The report's figures; ``curves`` names each model's history file and ``exported`` the shipped folder, both
    relative to the run directory; ``pairs`` counts each split's pairs as ``requests`` counts its requests."""
    k = config["evaluator"]["k"]
    metric = primary_metric(k)
    teacher, student = models["teacher"], models["student"]
    teacher_figure = teacher["metrics"].get(metric, 0.0)
    intervals = config["evaluator"]["intervals"]
    report = {
        "product": config["product"]["name"],
        "policy": {"version": policy.version, "sha256": policy.sha256, "source": policy.source},
        "seed": config["seed"],
        "k": k,
        "primary_metric": metric,
        "gate": dict(gate) if gate else None,
        "splits": dict(SPLIT_OF_FIGURES),
        "requests": dict(requests),
        "pairs": dict(pairs or {}),
        "intervals": {"confidence": intervals["confidence"], "resamples": intervals["resamples"], "method": intervals["method"]},
        "first_stage": dict(first_stage) if first_stage else None,
        "data_notes": list(data_notes),
        "models": {name: dict(result) for name, result in models.items()},
        "comparisons": [dict(c) for c in comparisons],
        "objective": objective(config, models),
        f"retained_{metric}": student["metrics"].get(metric, 0.0) / teacher_figure if teacher_figure else 0.0,
        "speedup": student["throughput_pairs_per_s"] / teacher["throughput_pairs_per_s"],
        "training_curves": dict(curves),
        "exported": dict(exported) if exported else None,
        "compliance": dict(compliance) if compliance else None,
    }
    report["verdict"] = decide(report)
    return report


def write_report(
    report: Mapping[str, Any],
    curves: Mapping[str, list[dict[str, float]]],
    *,
    json_path: Path,
    markdown_path: Path,
    quality_plot: Path,
    curves_plot: Path,
) -> None:
    """Write report.json, report.md and the PNG plots where the report stage declares them."""
    write_json(json_path, report)
    plot_quality_vs_throughput(report, report["primary_metric"], quality_plot)
    plot_training_curves(curves, curves_plot)
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(report_markdown(report), encoding="utf-8")
