"""The report's decision: ship the student or not, and why, from figures the run already measured.

The student ships when nothing speaks against it:

- it ranks better than every baseline (the free models it must beat) on the primary metric, with the
  paired interval over test requests above zero: a difference the test set cannot resolve is not a win;
- it passed the compliance check (:mod:`stillroom.stages.compliance`), when the run has one.

A check that did not run is said beside the decision (``unchecked``), never counted as a pass: a policy whose
hard rules read fields the data lacks leaves the student's compliance unknown. A "do not ship" verdict comes
with what to try next (:mod:`stillroom.evaluation.next_steps`).

How much of the teacher it keeps, and how much faster it is, are said beside the decision: they are
what the team trades, not what makes the student fit to serve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stillroom.evaluation.next_steps import next_steps
from stillroom.evaluation.significance import BETTER, WORSE, interval_text


def export_withheld(compliance: Mapping[str, Any] | None) -> bool:
    """Whether the compliance check keeps the student from being exported: it failed, under ``compliance.mode=fail``."""
    return bool(compliance) and compliance.get("passed") is False and compliance.get("mode") == "fail"


def _baseline_comparisons(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    baselines = {name for name, result in report["models"].items() if result.get("baseline")}
    metric = report["primary_metric"]
    return [c for c in report["comparisons"] if c["a"] == "student" and c["b"] in baselines and c["metric"] == metric]


def _interval(comparison: Mapping[str, Any]) -> str:
    return f"{comparison['difference']:+.3f} {interval_text(comparison['ci'])}"


def decide(report: Mapping[str, Any]) -> dict[str, Any]:
    """``{"ship", "against", "for", "unchecked", "next", "compliance_failed"}``: each reason one clause in plain
    words, from the report's comparisons and its ``compliance`` record; ``unchecked`` says why the compliance check
    did not run (``None`` when it ran) and ``next`` what to try when the student does not ship."""
    metric, k, compliance = report["primary_metric"], report["k"], report.get("compliance")
    against: list[str] = []
    support: list[str] = []
    versus = _baseline_comparisons(report)
    if not versus:
        against.append(f"was not compared with any baseline on {metric} (evaluator.comparisons)")
    for c in versus:
        if c["verdict"] == BETTER:
            support.append(f"beats {c['b']} by {_interval(c)} {metric}")
        elif c["verdict"] == WORSE:
            against.append(f"ranks worse than {c['b']}: {_interval(c)} {metric}")
        else:
            against.append(f"cannot be told from {c['b']} on {c['requests']} test requests: {_interval(c)} {metric}")
    support.append(f"keeps {report[f'retained_{metric}']:.1%} of the teacher's {metric} at {report['speedup']:.1f}x its throughput")
    if compliance and compliance.get("checked"):
        if compliance["passed"]:
            support.append(_compliance_clause(compliance, k))
        else:
            against += compliance["failures"]
    unchecked = None if compliance is None or compliance.get("checked") else compliance.get("note")
    return {
        "ship": not against,
        "against": against,
        "for": support,
        "unchecked": unchecked,
        "next": next_steps(report) if against else [],
        "compliance_failed": bool(compliance and compliance.get("passed") is False),
    }


def _compliance_clause(compliance: Mapping[str, Any], k: int) -> str:
    clause = f"puts a rule-breaking candidate in {compliance['rate']:.1%} of its top-{k} slots"
    alone = compliance.get("alone")
    if alone:
        clause += " as served with the policy's hard rules applied"
    asides = [f"{alone['rate']:.1%} ranked alone"] if alone else []
    versus = compliance.get("against_teacher")
    if versus:
        asides.append(f"{points(versus['difference'])} against its teacher")
    if asides:
        clause += f" ({'; '.join(asides)})"
    if compliance.get("floor") is not None:
        clause += f"; no ranking of these slates goes below {compliance['floor']:.1%}"
    return clause


def points(share: float) -> str:
    """A difference of two rates in percentage points: "+1.2 points"."""
    return f"{share * 100:+.1f} points"


def verdict_line(verdict: Mapping[str, Any]) -> str:
    """The report's first line: the decision and its reasons, in one sentence each way."""
    if verdict["ship"]:
        line = f"**Verdict: ship the student.** It {_join(verdict['for'])}."
    else:
        line = f"**Verdict: do not ship the student.** It {_join(verdict['against'])}."
    if verdict.get("unchecked"):
        line += f" Its compliance with the policy's hard rules was **not checked**: {verdict['unchecked']}."
    return line


def _join(clauses: Sequence[str]) -> str:
    return clauses[0] if len(clauses) == 1 else "; it ".join(clauses[:-1]) + "; and it " + clauses[-1]
