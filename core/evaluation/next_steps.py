"""What to try next when the student does not ship, drawn from what the run measured.

A "do not ship" verdict is a finding, not an end: the report's figures already say which baseline the student
failed to beat, whether its teacher beat that baseline (if not, no distillation can help: the teacher must get
stronger first), whether the test set was too small to tell the two apart, and whether the hard rules were the
reason. Each step names the knob the docs describe for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stillroom.evaluation.significance import BETTER, WORSE, interval_text

SMALL_TEST_SET = 300
"""Fewer golden test requests than this resolve only large differences (report.md says so beside the figures)."""
STRONGER_TEACHER = (
    "a stronger teacher first: a bigger base model (`teacher.pretrained`, docs/guides/own-model.md), more golden train "
    "pairs, more epochs (`teacher.train.epochs`), or the fields production already has as features (`product.features`, "
    "docs/concepts.md)"
)
MORE_DISTILLATION = (
    "give distillation more to learn from: more unlabeled pool pairs for the teacher to label (docs/guides/own-data.md), "
    "more epochs (`student.train.epochs`) or a bigger student (`student=...`, docs/reference/configuration.md)"
)


def _metric_of(report: Mapping[str, Any], model: str) -> float | None:
    return report["models"].get(model, {}).get("metrics", {}).get(report["primary_metric"])


def _comparison(report: Mapping[str, Any], a: str, b: str) -> Mapping[str, Any] | None:
    metric = report["primary_metric"]
    return next((c for c in report["comparisons"] if c["a"] == a and c["b"] == b and c["metric"] == metric), None)


def _teacher_beats(report: Mapping[str, Any], baseline: str) -> bool:
    """Whether the teacher beats ``baseline``: by its paired comparison where the run made one, else by the figures."""
    comparison = _comparison(report, "teacher", baseline)
    if comparison is not None:
        return comparison["verdict"] == BETTER
    teacher, other = _metric_of(report, "teacher"), _metric_of(report, baseline)
    return teacher is not None and other is not None and teacher > other


def _against_baseline(report: Mapping[str, Any], comparison: Mapping[str, Any]) -> str:
    metric, baseline = report["primary_metric"], comparison["b"]
    measured = f"{comparison['difference']:+.3f} {interval_text(comparison['ci'])} {metric} against {baseline}"
    teacher, rival = _metric_of(report, "teacher"), _metric_of(report, baseline)
    if not _teacher_beats(report, baseline):
        figures = f" ({teacher:.3f} against {rival:.3f})" if teacher is not None and rival is not None else ""
        return (
            f"The student is {measured}, and the teacher itself does not beat {baseline}{figures}: the student cannot learn what its "
            f"teacher lacks. Try {STRONGER_TEACHER}."
        )
    retained = report.get(f"retained_{metric}")
    kept = f" but the student keeps only {retained:.1%} of it" if retained is not None else ""
    step = f"The student is {measured}; the teacher beats {baseline}{kept}: {MORE_DISTILLATION}."
    if comparison["verdict"] != WORSE and comparison["requests"] < SMALL_TEST_SET:
        step += f" Golden test has {comparison['requests']} requests: more labeled test requests resolve smaller differences."
    return step


def _compliance_step(report: Mapping[str, Any]) -> str | None:
    compliance = report.get("compliance") or {}
    if compliance.get("passed") is not False:
        return None
    if compliance.get("hard_rules") != "policy":
        return (
            "The student breaks the hard rules too often: serve it with the rules applied (`serving.hard_rules=policy` demotes"
            " or filters every rule breaker, docs/concepts.md#compliance)."
        )
    return (
        "The student breaks the hard rules too often even as served with them applied: its slates hold too few compliant"
        " candidates; add compliant candidates to the first stage, or raise the bound the policy sets (`max_violation_rate`)"
        " if the policy allows it."
    )


def next_steps(report: Mapping[str, Any]) -> list[str]:
    """What to try next, one step per reason the student does not ship, in the order the verdict gives them."""
    metric = report["primary_metric"]
    baselines = {name for name, result in report["models"].items() if result.get("baseline")}
    steps = [
        _against_baseline(report, c)
        for c in report["comparisons"]
        if c["a"] == "student" and c["b"] in baselines and c["metric"] == metric and c["verdict"] != BETTER
    ]
    if not any(c["a"] == "student" and c["b"] in baselines for c in report["comparisons"]):
        steps.append("Compare the student with the free models it must beat: name them in `evaluator.comparisons` (`[student, baselines]`).")
    if (compliance := _compliance_step(report)) is not None:
        steps.append(compliance)
    return steps
