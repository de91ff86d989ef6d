"""The exported student's model card: what it is, which policy it follows, how well it did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stillroom import __version__
from stillroom.policy import Policy
from stillroom.policy.gate import describe_gate


def _gate_line(gate: Mapping[str, Any] | None) -> str:
    return f"- Policy gate: {describe_gate(gate)}" if gate else "- Policy gate: not recorded"


def render_model_card(config: Mapping[str, Any], policy: Policy, results: Mapping[str, Any], gate: Mapping[str, Any] | None = None) -> str:
    student = results.get("student", {})
    metrics = student.get("metrics", {})
    rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in metrics.items())
    return f"""---
library_name: transformers
tags: [stillroom, ranking, distillation, {config['product']['name']}]
stillroom_policy_version: "{policy.version}"
stillroom_policy_sha256: "{policy.sha256}"
---

# {config['product']['name']} ranking student

A cross-encoder that scores (request, candidate) pairs over the **{policy.product}**
policy's label scale ({', '.join(f'{label.value}={label.name}' for label in policy.labels)}).
Rank by the expected label: `sum(softmax(logits) * [0..{policy.max_label}]) / {policy.max_label}`.

- Policy: `{policy.product}` version **{policy.version}**, sha256 `{policy.sha256}`
{_gate_line(gate)}
- Distilled by stillroom {__version__} from the `{config['teacher']['name']}` teacher
- Student: `{config['student']['name']}`, {student.get('params', 0):,} parameters,
  {student.get('throughput_pairs_per_s', 0):.0f} pairs/s on the machine that trained it

## Scoring

The folder was written by the `{config['student']['name']}` model plugin, which
also loads it back; weights are safetensors and the tokenizer is included.
Pairs are scored as (request, candidate) text pairs.

## Golden test set

| metric | value |
|---|---|
{rows}
"""
