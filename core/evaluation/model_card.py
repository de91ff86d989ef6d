"""The exported student's model card: what it is, which policy it follows, how well it did and how to score with it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stillroom import __version__
from stillroom.evaluation.report import primary_metric
from stillroom.evaluation.significance import interval_text
from stillroom.features import FIRST_STAGE_SCORE
from stillroom.policy import Policy
from stillroom.policy.gate import describe_gate
from stillroom.ranker import ModelSpec

SHIPPED = "student"


@dataclass(frozen=True)
class Evaluated:
    """What the run found about the student before it ships: the artifacts of evaluate, the gate and compliance."""

    models: Mapping[str, Any]
    comparisons: Sequence[Mapping[str, Any]]
    gate: Mapping[str, Any] | None
    compliance: Mapping[str, Any] | None


def _figures(student: Mapping[str, Any]) -> str:
    rows = []
    for metric, value in student.get("metrics", {}).items():
        interval = student.get("ci", {}).get(metric)
        rows.append(f"| {metric} | {value:.4f} | " + (f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "—") + " |")
    return "\n".join(rows)


def _comparisons(evaluated: Evaluated, metric: str) -> str:
    rows = [
        f"| {c['b']} | {c['difference']:+.4f} | {interval_text(c['ci'])} | {c['verdict']} |"
        for c in evaluated.comparisons
        if c["a"] == SHIPPED and c["metric"] == metric
    ]
    return "\n".join(rows) or "| — | | | |"


def _compliance_line(compliance: Mapping[str, Any] | None, k: int) -> str:
    if not compliance or compliance.get("rate") is None:
        return f"- Compliance: not checked ({(compliance or {}).get('note') or 'no compliance stage'})"
    state = "not checked" if not compliance.get("checked") else ("passed" if compliance.get("passed") else "FAILED")
    return f"- Compliance ({state}): a rule-breaking candidate in {compliance['rate']:.1%} of its top-{k} slots on golden test"


def row_needs(model_config: Mapping[str, Any]) -> str:
    """What a scoring row needs beyond the texts, for a student that reads features beside them."""
    features = list(model_config.get("features") or ())
    needs = []
    if FIRST_STAGE_SCORE in features:
        needs.append("`first_stage_score` (normalised within each `request_id`)")
    if declared := [name for name in features if name != FIRST_STAGE_SCORE]:
        needs.append(f"`features` with {', '.join(f'`{name}`' for name in declared)} (`product.features` says how each is computed)")
    return f", and {' and '.join(needs)}" if needs else ""


def served_with_rules(config: Mapping[str, Any], policy: Policy) -> str:
    """How to serve it when its figures were measured with the policy's hard rules applied (``serving.hard_rules``)."""
    if config["serving"]["hard_rules"] != "policy":
        return ""
    return (
        f"\n\nIts figures are as served with the policy's hard rules applied: score with `--policy {policy.source}` (each row"
        " with its `request` and `candidate` fields), rank by `served_score` and leave out the rows `served` calls `filtered`."
    )


def render_model_card(config: Mapping[str, Any], policy: Policy, architecture: ModelSpec, evaluated: Evaluated) -> str:
    """The card that ships in the student's folder (``README.md``), with Hugging Face metadata in its front matter."""
    student = evaluated.models.get(SHIPPED, {})
    student_config = config[SHIPPED]
    k = config["evaluator"]["k"]
    metric = primary_metric(k)
    gate = describe_gate(evaluated.gate) if evaluated.gate else "not recorded"
    return f"""---
library_name: transformers
tags: [stillroom, ranking, distillation, {config['product']['name']}]
stillroom_policy_version: "{policy.version}"
stillroom_policy_sha256: "{policy.sha256}"
---

# {config['product']['name']} ranking student

**Architecture**: `{architecture.name}`, {architecture.description or "a model a plugin contributes"};
{student.get('params', 0):,} parameters, inputs cut at `max_length` {student_config.get('max_length', '—')} tokens.
It scores (request, candidate) pairs over the **{policy.product}** policy's label scale
({', '.join(f'{label.value}={label.name}' for label in policy.labels)}).
Rank by the expected label: `sum(softmax(logits) * [0..{policy.max_label}]) / {policy.max_label}`.

- Policy: `{policy.product}` version **{policy.version}**, sha256 `{policy.sha256}`
- Policy gate: {gate}
{_compliance_line(evaluated.compliance, k)}
- Distilled by stillroom {__version__} from the `{config['teacher']['name']}` teacher;
  {student.get('throughput_pairs_per_s') or 0:,.0f} pairs/s on the machine that trained it

## Scoring

```bash
stillroom score --model THIS_FOLDER --input pairs.jsonl --output scores.jsonl
```

Each input line holds `request_text` and `candidate_text`{row_needs(student_config)}; onnxruntime runs `model.onnx` when the folder
has one (`--backend torch` runs the weights). The `{architecture.name}` plugin saved the folder and loads it
back; weights are safetensors and the tokenizer is included.{served_with_rules(config, policy)}

## Golden test set

| metric | value | 95% interval |
|---|---|---|
{_figures(student)}

The student minus each model on {metric}, paired over the same requests:

| against | difference | interval | verdict |
|---|---|---|---|
{_comparisons(evaluated, metric)}
"""
