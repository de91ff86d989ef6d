"""Serving with the policy's hard rules applied: a rule breaker demoted below every compliant candidate, or filtered."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.evaluation import EvalInput
from stillroom.evaluation.served import as_served, check_mode, demoted
from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.evaluators.policy_compliance import PolicyComplianceEvaluator
from stillroom.policy.source import load_policy

RATE = "violation_rate@1"


@pytest.fixture(scope="module")
def policy():
    return load_policy("stillroom.products.feed:policy.md", get_plugin_manager())


def _post(n: int, spam: bool = False, language: str = "English") -> Pair:
    candidate = {
        "author": "A",
        "topic": "finance",
        "headline": "h",
        "language": language,
        "age_hours": 3,
        "format": "text",
        "spam": spam,
        "popularity": 1.0,
    }
    request = {"languages": ["English"], "topics": ["finance"], "connections": []}
    return Pair(f"r:{n}", "r", str(n), "member", "post", request=request, candidate=candidate, label=0 if spam or language != "English" else 2)


def test_each_side_keeps_its_order_and_rule_breakers_go_below_every_compliant_candidate() -> None:
    scores = torch.tensor([0.9, 0.3, 0.8, 0.5])
    assert demoted(scores, torch.tensor([True, False, True, False])).argsort(descending=True).tolist() == [3, 1, 0, 2]
    assert torch.equal(demoted(scores, torch.zeros(4, dtype=torch.bool)), scores)  # nothing broken: the model's own order


def test_as_the_policy_says_spam_is_filtered_and_an_unread_language_demoted(policy) -> None:
    assert {rule.id: rule.served for rule in policy.rules} == {"spam": "filter", "unread-language": "demote", "stale-post": "demote"}
    pairs = [_post(0, spam=True), _post(1), _post(2, language="German"), _post(3)]
    probs = torch.eye(4)[[3, 0, 3, 1]]  # the model grades the spam and the German post highest
    listed = as_served(EvalInput(pairs, probs, policy, k=2))
    assert [p.candidate_id for p in listed.pairs] == ["1", "2", "3"] and torch.equal(listed.probs, probs[[1, 2, 3]])
    assert [listed.pairs[i].candidate_id for i in listed.scores.argsort(descending=True).tolist()] == ["3", "1", "2"]


def test_served_so_a_model_breaks_no_rule_it_could_avoid(policy) -> None:
    pairs = [_post(0, language="German"), _post(1), _post(2, spam=True)]
    alone = EvalInput(pairs, None, policy, k=1, ranking_scores=torch.tensor([0.9, 0.1, 0.5]))
    assert PolicyComplianceEvaluator()(alone)[RATE].figure == 1.0 and PolicyComplianceEvaluator()(as_served(alone))[RATE].figure == 0.0
    compliant = [_post(1), _post(3)]
    untouched = EvalInput(compliant, None, policy, k=1, ranking_scores=torch.tensor([0.2, 0.4]))
    assert as_served(untouched) is untouched


def test_a_model_served_by_other_scores_than_its_expected_grade_ranks_by_them(policy) -> None:
    inputs = EvalInput([_post(0), _post(1)], torch.tensor([[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]]), policy, k=1)
    assert inputs.scores.argmax() == 0 and dataclasses.replace(inputs, ranking_scores=torch.tensor([0.0, 1.0])).scores.argmax() == 1


@pytest.mark.parametrize("mode", ["demote", False])
def test_an_unknown_mode_is_a_config_error(mode: object) -> None:
    with pytest.raises(StillroomError, match="expected one of off, policy") as raised:
        check_mode(mode)
    assert raised.value.where == "serving.hard_rules"
    assert check_mode("policy") == "policy"
