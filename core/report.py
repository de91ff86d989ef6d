"""report.json, report.md and the plots: the one comparison every product gets.

``report.json`` keeps a stable shape (``product``, ``policy``, ``models`` with
``params``, ``throughput_pairs_per_s`` and ``metrics``, ``retained_ndcg@10``
and ``speedup``, and ``beats_baselines``: by how much the student and the
teacher beat each baseline); ``report.md`` is the same table for people, with a
plot of quality against throughput and the training curves. A baseline's row
has ``"baseline": true``, no throughput (``null``) and no kappa.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from stillroom.artifacts import ArtifactStore, atomic_path, write_json  # noqa: E402
from stillroom.gate import describe_gate  # noqa: E402
from stillroom.policy import Policy  # noqa: E402

PRIMARY_METRIC = "ndcg@10"
TABLE_METRICS = ("ndcg@10", "mrr@10", "map", "auc", "kappa", "violation_rate@10")


def build_report(
    config: Mapping[str, Any],
    policy: Policy,
    models: Mapping[str, Any],
    curves: Mapping[str, list[dict[str, float]]],
    gate: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    teacher, student = models["teacher"], models["student"]
    teacher_ndcg = teacher["metrics"].get(PRIMARY_METRIC, 0.0)
    report = {
        "product": config["product"]["name"],
        "policy": {"version": policy.version, "sha256": policy.sha256},
        "seed": config["seed"],
        "k": config["evaluator"]["k"],
        "gate": dict(gate) if gate else None,
        "models": {name: dict(result) for name, result in models.items()},
        f"retained_{PRIMARY_METRIC}": student["metrics"].get(PRIMARY_METRIC, 0.0) / teacher_ndcg if teacher_ndcg else 0.0,
        "speedup": student["throughput_pairs_per_s"] / teacher["throughput_pairs_per_s"],
        "training_curves": {name: f"{name}/history.jsonl" for name in curves},
    }
    report["beats_baselines"] = baseline_margins(report)
    return report


def _cell(value: float | None, spec: str) -> str:
    """A table cell; a dash where the figure does not apply (a baseline has no labels and is not timed)."""
    return "—" if value is None else format(value, spec)


def comparison_table(report: Mapping[str, Any]) -> str:
    """The Markdown table the run prints at the end and report.md opens with."""
    header = "| model | params | pairs/s | " + " | ".join(TABLE_METRICS) + " |"
    lines = [header, "|" + "---|" * (3 + len(TABLE_METRICS))]
    for name, result in report["models"].items():
        cells = [_cell(result["metrics"].get(m), ".4f") for m in TABLE_METRICS]
        row = f"| {name} | {result['params']:,} | {_cell(result['throughput_pairs_per_s'], ',.0f')} | " + " | ".join(cells) + " |"
        lines.append(row)
    return "\n".join(lines)


def baseline_margins(report: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """For each baseline, by how much the student and the teacher beat it on the primary metric."""
    models = report["models"]
    margins = {}
    for name, result in models.items():
        if not result.get("baseline"):
            continue
        base = result["metrics"].get(PRIMARY_METRIC, 0.0)
        margins[name] = {
            f"{model}_minus_baseline": models[model]["metrics"].get(PRIMARY_METRIC, 0.0) - base for model in ("student", "teacher")
        }
    return margins


def _cached_note(report: Mapping[str, Any]) -> str:
    cached = [name for name, result in report["models"].items() if result.get("candidates_cached")]
    if not cached:
        return ""
    return (
        f"\nThroughput of {', '.join(cached)} is measured as it serves: each candidate's side is computed once and "
        "cached, each request is encoded once per call, and a pair costs only what the model does with the two sides."
    )


def _baseline_sentences(report: Mapping[str, Any]) -> str:
    models = report["models"]
    lines = []
    for name, margin in report.get("beats_baselines", {}).items():
        base = models[name]["metrics"].get(PRIMARY_METRIC, 0.0)
        student = margin["student_minus_baseline"]
        relative = f" ({student / base:+.0%})" if base else ""
        lines.append(
            f"- Against **{name}** (NDCG@10 {base:.4f}): the student {student:+.4f}{relative}, "
            f"the teacher {margin['teacher_minus_baseline']:+.4f}."
        )
    return "\n".join(lines)


def _gate_sentence(report: Mapping[str, Any]) -> str:
    if not report.get("gate"):
        return ""
    sentence = describe_gate(report["gate"])
    return f"{sentence[0].upper()}{sentence[1:]}."


def violations_table(report: Mapping[str, Any]) -> str:
    """Each hard rule with the number of top-k slots, per model, that hold a candidate breaking it."""
    key = f"violations_by_rule@{report['k']}"
    by_model = {name: result["details"][key] for name, result in report["models"].items() if key in result.get("details", {})}
    if not by_model:
        return ""
    rules = sorted({rule for counts in by_model.values() for rule in counts})
    lines = ["| rule | " + " | ".join(by_model) + " |", "|" + "---|" * (1 + len(by_model))]
    lines += [f"| {rule} | " + " | ".join(str(counts.get(rule, 0)) for counts in by_model.values()) + " |" for rule in rules]
    return "\n".join(lines)


def not_applicable_sentence(report: Mapping[str, Any]) -> str:
    """The hard rules this data cannot be checked against, and the fields they read that it lacks."""
    found = next((r["details"]["rules_not_applicable"] for r in report["models"].values() if r.get("details", {}).get("rules_not_applicable")), {})
    if not found:
        return ""
    rules = "; ".join(f"`{rule}` (reads {', '.join(fields)})" for rule, fields in found.items())
    return f"\nNot applicable to this data, which lacks the fields they read: {rules}."


def _plot_quality_vs_throughput(report: Mapping[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, result in report["models"].items():
        x, y = result["throughput_pairs_per_s"], result["metrics"].get(PRIMARY_METRIC, 0.0)
        if x is None:  # a baseline: not timed
            ax.axhline(y, linestyle=":", color="grey")
            ax.annotate(name, (0.01, y), xycoords=("axes fraction", "data"), textcoords="offset points", xytext=(0, 3), color="grey")
            continue
        ax.scatter([x], [y], s=60)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4))
    ax.set_xscale("log")
    ax.set_xlabel("throughput (pairs/s, log scale)")
    ax.set_ylabel(PRIMARY_METRIC)
    ax.set_title(f"{report['product']}: quality against throughput")
    ax.grid(True, alpha=0.3)
    _save(fig, path)


def _plot_training_curves(curves: Mapping[str, list[dict[str, float]]], path: Path) -> None:
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


def write_report(store: ArtifactStore, report: Mapping[str, Any], curves: Mapping[str, list[dict[str, float]]]) -> str:
    """Write report.json, report.md and the PNG plots into the run directory; return the table."""
    root = store.root
    write_json(root / "report.json", report)
    _plot_quality_vs_throughput(report, root / "quality_vs_throughput.png")
    _plot_training_curves(curves, root / "training_curves.png")
    table = comparison_table(report)
    markdown = f"""# {report['product']}: stillroom report

Policy version **{report['policy']['version']}** (sha256 `{report['policy']['sha256']}`), seed {report['seed']}.

{_gate_sentence(report)}

{table}

Student keeps **{report['retained_ndcg@10']:.1%}** of the teacher's NDCG@10 at **{report['speedup']:.1f}x** its throughput.
{_cached_note(report)}

{_baseline_sentences(report)}

## Hard-rule violations in each model's top {report['k']} on golden test

{violations_table(report) or "No policy_compliance evaluator in this run."}
{not_applicable_sentence(report)}

![quality against throughput](quality_vs_throughput.png)

![training curves](training_curves.png)
"""
    with atomic_path(root / "report.md") as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    return table
