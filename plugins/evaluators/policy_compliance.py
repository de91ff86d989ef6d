"""Policy compliance: how often a model puts a candidate that breaks a hard rule in a request's top k.

The rate is kept per request (its share of that request's top-k slots, weighted
by the slots), so the report can compare two models' rates with a paired test.

Some violations no ranking can avoid: a request whose slate holds fewer than k candidates that break no
rule must fill its top k with rule breakers. ``violation_floor@k`` is that share (``rate``) and how many requests
have such a slate (``requests``): the lowest rate any ranking of these slates reaches, the same for every model.

A rule that reads a field the data does not have (a BEIR query has no
``remote_only``) cannot be checked on it: it is reported as not applicable to
this data, with the fields it lacks, rather than counted as never broken. When no
rule can be checked (or the policy has none), the evaluator measures no rate at all:
``rules_checked`` is empty and the compliance check says "not checked", never a pass.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from stillroom import hookimpl
from stillroom.evaluation import EvalInput, PerRequest


@dataclass(frozen=True)
class PolicyComplianceEvaluator:
    name: str = "policy_compliance"

    def __call__(self, inputs: EvalInput) -> dict[str, Any]:
        not_applicable = rules_not_applicable(inputs)
        checked = [rule.id for rule in inputs.policy.rules if rule.id not in not_applicable]
        found: dict[str, Any] = {"rules_checked": checked, "rules_not_applicable": not_applicable}
        return {**self._rates(inputs, not_applicable), **found} if checked else found

    @staticmethod
    def _rates(inputs: EvalInput, not_applicable: dict[str, list[str]]) -> dict[str, Any]:
        """The violation rate per request, the count by rule and the floor, over the rules the data can be checked on."""
        by_request: dict[str, list[int]] = defaultdict(list)
        for index, pair in enumerate(inputs.pairs):
            by_request[pair.request_id].append(index)
        ranks = inputs.ranks.tolist()  # the ranking metrics' order, ties broken alike
        rates: dict[str, float] = {}
        slots: dict[str, float] = {}
        per_rule: Counter[str] = Counter({rule.id: 0 for rule in inputs.policy.rules})
        broken = [inputs.policy.rules_broken(pair.request, pair.candidate) for pair in inputs.pairs]
        unavoidable, short = 0, 0
        for request_id, indices in by_request.items():
            top = sorted(indices, key=lambda i: ranks[i])[: inputs.k]
            for i in top:
                per_rule.update(rule.id for rule in broken[i])
            rates[request_id], slots[request_id] = sum(bool(broken[i]) for i in top) / len(top), float(len(top))
            missing = max(0, len(top) - sum(not broken[i] for i in indices))
            unavoidable, short = unavoidable + missing, short + bool(missing)
        return {
            f"violation_rate@{inputs.k}": PerRequest(rates, weights=slots, higher_is_better=False),
            f"violations_by_rule@{inputs.k}": {rule: count for rule, count in per_rule.items() if rule not in not_applicable},
            f"violation_floor@{inputs.k}": {"rate": unavoidable / sum(slots.values()) if slots else 0.0, "requests": short},
        }


def rules_not_applicable(inputs: EvalInput) -> dict[str, list[str]]:
    """Each rule that reads a field no pair of the data has, with those fields (``request.remote_only``)."""
    present = {("request", name) for pair in inputs.pairs for name in pair.request}
    present |= {("candidate", name) for pair in inputs.pairs for name in pair.candidate}
    return {rule.id: sorted(f"{side}.{name}" for side, name in rule.fields - present) for rule in inputs.policy.rules if rule.fields - present}


@hookimpl
def stillroom_evaluators() -> list[PolicyComplianceEvaluator]:
    return [PolicyComplianceEvaluator()]
