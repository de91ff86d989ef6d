"""compliance: the student that would ship must keep rule-breaking candidates out of its top k.

``gate.max_violation_rate`` bounds the student's ``violation_rate@k`` on golden
test (the share of top-k slots that hold a candidate breaking a hard rule).
Above it, the run fails here, before anything is exported, naming each rule
with its count. Without a bound the stage only records the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stillroom.errors import GateFailed
from stillroom.recipe.context import RunContext
from stillroom.recipe.contracts import Artifact, Stage

NAME = "compliance"
SHIPPED_MODEL = "student"
EVALUATION = "evaluation.models"
RESULT = Artifact("compliance.result", "compliance.json")
"""Whether the student was checked, its violation rate, the bound and the count by rule."""


def declare(config: Mapping[str, Any]) -> list[Stage]:
    return [Stage(NAME, run, ("gate.max_violation_rate", "evaluator.k"), reads=(EVALUATION,), writes=(RESULT,))]


def run(ctx: RunContext) -> dict[str, Any]:
    summary = _checked(ctx)
    ctx.io.write_json(RESULT, summary)
    return summary


def _checked(ctx: RunContext) -> dict[str, Any]:
    k = int(ctx.config["evaluator"]["k"])
    bound = ctx.config["gate"]["max_violation_rate"]
    result = ctx.io.read_json(EVALUATION)[SHIPPED_MODEL]
    rate = result["metrics"].get(f"violation_rate@{k}")
    if rate is None:
        if bound is None:
            return {"checked": False}
        raise GateFailed("gate.max_violation_rate needs the policy_compliance evaluator in evaluator.names", where=NAME)
    by_rule = result["details"].get(f"violations_by_rule@{k}", {})
    summary = {"checked": bound is not None, f"violation_rate@{k}": rate, "max_violation_rate": bound, "by_rule": by_rule}
    if bound is not None and rate > float(bound):
        counts = ", ".join(f"{rule} {count}" for rule, count in by_rule.items())
        raise GateFailed(
            f"the student puts a rule-breaking candidate in {rate:.1%} of its top-{k} slots on golden test, "
            f"above gate.max_violation_rate {float(bound):.1%} (by rule: {counts}); it is not exported",
            where=NAME,
        )
    return summary
