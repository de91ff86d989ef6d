"""gate: the model that will label at scale (the judge, or the teacher when there is none) must pass the policy gate.

It is scored as it will label: with ``labeling.enforce_rules`` the policy's
hard rules cap its labels here too. A passed gate's figures go into the
report; a failed gate stops the run before any labeling at scale, with the
figures in its message and nothing recorded as complete.
"""

from __future__ import annotations

from typing import Any

from stillroom.context import RunContext
from stillroom.errors import GateFailed
from stillroom.gate import judge_gate
from stillroom.stages.label import labels_of

NAME = "gate"
RESULT_FILE = "gate.json"


def run(ctx: RunContext, role: str, trained_stage: str) -> dict[str, Any]:
    gate_config = ctx.config["gate"]
    model = ctx.load_model(role, ctx.config[role], trained_stage)
    dev = ctx.pairs("dev")
    precedents = ctx.precedents() if gate_config["precedents"] else []
    dev_labels, precedent_labels = labels_of(ctx, role, model, dev), labels_of(ctx, role, model, precedents)
    result = judge_gate(role, dev, dev_labels, precedents, precedent_labels, ctx.policy, gate_config)
    if not result.passed:
        raise GateFailed(result.explain(ctx.policy), where=NAME)
    print(f"[stillroom] {result.explain(ctx.policy)}")
    ctx.store.write_json(NAME, RESULT_FILE, result.summary())
    return result.summary()
