"""compliance: the student that would ship may not break the policy's hard rules more often than it has to.

Two checks on golden test, both on ``violation_rate@k``, the share of top-k slots that hold a candidate
breaking a hard rule, as the student is served (with ``serving.hard_rules: policy``, after the policy's rules demoted
or filtered every rule breaker; the rates of the model alone are recorded beside them):

- **no worse than its teacher**: the student's rate minus the teacher's, paired over the test requests;
  the student fails when the whole interval lies above zero (it breaks the rules more often, and the
  test set is large enough to tell);
- **within the bound**: ``compliance.max_violation_rate``, or the policy's own ``max_violation_rate`` (its
  front matter) when the run sets none; no bound when neither does.

The stage records what it found and the run goes on, so that the report can say why the student does not
ship. ``compliance.mode`` says what a failure does: ``fail`` (the default) withholds the student from
export; ``warn`` exports it, and the report still says not to ship; ``off`` records the figures only.
Either way a failed check ends the command with :data:`~stillroom.errors.GATE_EXIT_CODE` once the report
is written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from stillroom.errors import StillroomError
from stillroom.evaluation import PerRequest
from stillroom.evaluation.comparisons import compare
from stillroom.evaluation.significance import IntervalSettings
from stillroom.evaluation.verdict import points
from stillroom.stages.context import RunContext
from stillroom.stages.contracts import Artifact, Plan, Stage

NAME = "compliance"
SHIPPED_MODEL, REFERENCE = "student", "teacher"
EVALUATION, PER_REQUEST = "evaluation.models", "evaluation.per_request"
RESULT = Artifact("compliance.result", "compliance.json")
"""Whether the student passed, its violation rate against the bound and against its teacher's, the count by rule."""
MODES = ("fail", "warn", "off")


def declare(config: Mapping[str, Any]) -> list[Stage]:
    keys = ("compliance", "evaluator.k", "evaluator.intervals", "seed", "serving.hard_rules")
    return [Stage(NAME, run, keys, reads=(EVALUATION, PER_REQUEST), writes=(RESULT,), check=check_config)]


def check_config(config: Mapping[str, Any], plan: Plan) -> None:
    """``compliance.mode`` names a mode, checked before anything trains."""
    mode = config["compliance"]["mode"]
    if mode not in MODES:
        quoted = ' (YAML reads a bare off as false: write "off")' if mode in (False, "False", "false") else ""
        raise StillroomError(f"expected one of {', '.join(MODES)}, got {mode!r}{quoted}", where="compliance.mode")


def run(ctx: RunContext) -> dict[str, Any]:
    summary = checked(ctx)
    ctx.io.write_json(RESULT, summary)
    return summary


def checked(ctx: RunContext) -> dict[str, Any]:
    """The compliance summary: ``checked``, ``passed``, the figures and, when it failed, the ``reason``; when it could not
    run, ``note`` says why (no evaluator, no hard rule the data can be checked on, ``compliance.mode=off``)."""
    k = ctx.config["evaluator"]["k"]
    metric = f"violation_rate@{k}"
    models = ctx.io.read_json(EVALUATION)
    student = models[SHIPPED_MODEL]
    details = student["details"]
    rate = student["metrics"].get(metric)
    configured = ctx.config["compliance"]["max_violation_rate"]
    bound = configured if configured is not None else ctx.policy.max_violation_rate
    rules = {"rules_checked": details.get("rules_checked", []), "rules_not_applicable": details.get("rules_not_applicable", {})}
    if rate is None:
        if "rules_checked" not in details:
            if bound is not None:
                raise StillroomError("a violation-rate bound needs the policy_compliance evaluator in evaluator.names", where="compliance.max_violation_rate")
            return _not_checked("no policy_compliance evaluator in evaluator.names", rules)
        return _not_checked(unmeasured_rules(rules["rules_not_applicable"]), rules)
    versus = _against_reference(ctx, metric) if REFERENCE in models else None
    mode = ctx.config["compliance"]["mode"]
    summary: dict[str, Any] = {
        "checked": mode != "off" and (versus is not None or bound is not None),
        "mode": mode,
        "metric": metric,
        "rate": rate,
        "ci": student["ci"].get(metric),
        "floor": details.get(f"violation_floor@{k}", {}).get("rate"),
        "max_violation_rate": bound,
        "bound_from": None if bound is None else ("compliance.max_violation_rate" if configured is not None else "policy"),
        "by_rule": details.get(f"violations_by_rule@{k}", {}),
        **rules,
        "against_teacher": versus,
        "hard_rules": ctx.config["serving"]["hard_rules"],
        "alone": _alone(models, metric),
    }
    if not summary["checked"]:
        summary["note"] = "compliance.mode=off" if mode == "off" else "no teacher to compare with and no bound"
    summary["failures"] = _failures(summary, k)
    summary["passed"] = not summary["failures"] if summary["checked"] else None
    if summary["failures"]:
        summary["reason"] = "the student " + "; and ".join(summary["failures"])
    return summary


def unmeasured_rules(not_applicable: Mapping[str, list[str]]) -> str:
    """Why no rate was measured: the policy has no hard rules, or every one reads fields the data lacks (named)."""
    if not not_applicable:
        return "the policy has no hard rules"
    needs = "; ".join(f"{rule} reads {', '.join(fields)}" for rule, fields in not_applicable.items())
    return f"the data lacks the fields every hard rule reads ({needs})"


def _not_checked(note: str, rules: Mapping[str, Any]) -> dict[str, Any]:
    return {"checked": False, "passed": None, "failures": [], "note": note, **rules}


def _alone(models: Mapping[str, Any], metric: str) -> dict[str, Any] | None:
    """Where the models are served with the hard rules applied, the student's and the teacher's rates by their own
    ranking (the check is about what serves); ``None`` where they are served as they rank."""
    if "alone" not in models[SHIPPED_MODEL]:
        return None
    alone = models[SHIPPED_MODEL]["alone"]
    teacher = models.get(REFERENCE, {}).get("alone", {}).get("metrics", {}).get(metric)
    return {"rate": alone["metrics"].get(metric), "ci": alone["ci"].get(metric), "teacher_rate": teacher}


def _against_reference(ctx: RunContext, metric: str) -> dict[str, Any]:
    """The student's rate minus the teacher's, request by request on golden test, with its interval and verdict: the
    evaluation's own paired comparison (:func:`~stillroom.evaluation.comparisons.compare`), whatever
    ``evaluator.comparisons`` asks the report for."""
    columns: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for row in ctx.io.read_jsonl(PER_REQUEST):
        if row["split"] == "test" and row["metric"] == metric and row["model"] in (SHIPPED_MODEL, REFERENCE):
            columns[row["model"]][row["request_id"]] = (row["value"], row["weight"])
    per_request = {
        model: {metric: PerRequest({r: v for r, (v, _) in rows.items()}, {r: w for r, (_, w) in rows.items()}, higher_is_better=False)}
        for model, rows in columns.items()
    }
    [comparison] = compare(per_request, [(SHIPPED_MODEL, REFERENCE)], IntervalSettings.of_run(ctx.config))
    return {"model": REFERENCE, **{key: comparison[key] for key in ("difference", "ci", "p_value", "verdict", "requests")}}


def _failures(summary: Mapping[str, Any], k: int) -> list[str]:
    """Why the student fails the check, each a clause that follows "the student"; none when it passes (or the check is off)."""
    if not summary["checked"]:
        return []
    failures = []
    rate, bound, versus = summary["rate"], summary["max_violation_rate"], summary["against_teacher"]
    if versus is not None and versus["verdict"] == "worse":
        low, high = versus["ci"]
        failures.append(
            f"puts a rule-breaking candidate in {rate:.1%} of its top-{k} slots on golden test, "
            f"{points(versus['difference'])} [{low * 100:+.1f}, {high * 100:+.1f}] against its teacher over {versus['requests']} requests"
        )
    if bound is not None and rate > float(bound):
        counts = ", ".join(f"{rule} {count}" for rule, count in summary["by_rule"].items())
        failures.append(
            f"puts a rule-breaking candidate in {rate:.1%} of its top-{k} slots on golden test, above "
            f"{summary['bound_from']}'s bound {float(bound):.1%} (by rule: {counts})"
        )
    return failures
