"""Built-in evaluators on hand-made predictions."""

from __future__ import annotations

import pytest
import torch

from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.evaluation import EvalInput, PerRequest, available_evaluators, evaluate, select_evaluators
from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy.source import load_policy


@pytest.fixture(scope="module")
def policy():
    return load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())


def _pairs(labels, remote_only=False):
    member = {"remote_only": remote_only, "city": "Berlin", "open_to_relocation": True, "seniority": 2}
    return [
        Pair(f"m:{i}", "m", str(i), "r", "c", member, {"workplace": "onsite", "city": "Berlin", "seniority": 2}, label)
        for i, label in enumerate(labels)
    ]


def _one_hot(labels, num_labels=4):
    probs = torch.full((len(labels), num_labels), 0.01)
    probs[torch.arange(len(labels)), torch.tensor(labels)] = 1 - 0.01 * (num_labels - 1)
    return probs


def _evaluate(policy, pairs, probs, k=10):
    evaluators = select_evaluators(
        ["ranking", "label_agreement", "policy_compliance"], available_evaluators(get_plugin_manager())
    )
    inputs = EvalInput(pairs=pairs, probs=probs, policy=policy, k=k)
    out = {}
    for evaluator in evaluators:
        out.update(evaluate(evaluator, inputs))
    return {key: value.figure if isinstance(value, PerRequest) else value for key, value in out.items()}


def test_perfect_predictions_score_perfectly(policy) -> None:
    labels = [3, 0, 2, 1, 0, 3]
    out = _evaluate(policy, _pairs(labels), _one_hot(labels))
    assert out["ndcg@10"] == pytest.approx(1.0)
    assert out["mrr@10"] == pytest.approx(1.0)
    assert out["map"] == pytest.approx(1.0)
    assert out["auc"] == pytest.approx(1.0)
    assert out["kappa"] == pytest.approx(1.0)
    assert out["violation_rate@10"] == 0.0


def test_reversed_ranking_scores_worse(policy) -> None:
    labels = [3, 2, 1, 0]
    out = _evaluate(policy, _pairs(labels), _one_hot([0, 1, 2, 3]))
    assert out["ndcg@10"] < 0.7 and out["auc"] == pytest.approx(0.0) and out["kappa"] < 0


def test_violation_rate_counts_rule_breaking_candidates_in_the_top_k(policy) -> None:
    # A remote-only member and onsite postings: every candidate breaks remote-only-member.
    pairs = _pairs([0, 0, 0, 0], remote_only=True)
    out = _evaluate(policy, pairs, _one_hot([3, 2, 1, 0]), k=2)
    assert out["violation_rate@2"] == 1.0
    assert out["violations_by_rule@2"]["remote-only-member"] == 2
    assert out["violations_by_rule@2"]["seniority-reach"] == 0


def test_a_rule_reading_fields_the_data_lacks_is_not_applicable_rather_than_never_broken(policy) -> None:
    """Query-and-document data (BEIR) has none of the jobs fields: every rule is reported with the fields it lacks."""
    pairs = [Pair(f"q:{i}", "q", str(i), "q", "d", {"text": "q"}, {"title": "t", "text": "d"}, label) for i, label in enumerate([2, 0, 1])]
    out = _evaluate(policy, pairs, _one_hot([2, 0, 1]))
    assert out["rules_not_applicable"]["remote-only-member"] == ["candidate.workplace", "request.remote_only"]
    assert set(out["rules_not_applicable"]) == {rule.id for rule in policy.rules}
    assert out["rules_checked"] == [] and "violation_rate@10" not in out and "violations_by_rule@10" not in out  # absent, not 0.0
    with_fields = _evaluate(policy, _pairs([1, 0]), _one_hot([1, 0]))
    assert with_fields["rules_not_applicable"] == {} and with_fields["rules_checked"] == [rule.id for rule in policy.rules]
    assert "violation_rate@10" in with_fields


def test_unknown_evaluator_lists_the_known_ones() -> None:
    with pytest.raises(StillroomError, match="known evaluators: label_agreement, policy_compliance, ranking"):
        select_evaluators(["bleu"], available_evaluators(get_plugin_manager()))


def test_a_baseline_without_labels_gets_ranking_figures_and_auc_but_no_kappa(policy) -> None:
    labels = [3, 2, 0, 1]
    evaluators = select_evaluators(
        ["ranking", "label_agreement", "policy_compliance"], available_evaluators(get_plugin_manager())
    )
    inputs = EvalInput(pairs=_pairs(labels), probs=None, policy=policy, k=10, ranking_scores=torch.tensor([0.9, 0.7, 0.1, 0.3]))
    out = {key: value for evaluator in evaluators for key, value in evaluate(evaluator, inputs).items()}
    assert out["ndcg@10"].figure == pytest.approx(1.0) and out["auc"] == pytest.approx(1.0)
    assert "kappa" not in out
    with pytest.raises(ValueError, match="no labels"):
        _ = inputs.predicted_labels


def test_ranking_figures_are_kept_per_request_in_the_order_requests_appear(policy) -> None:
    """Two requests, one ranked perfectly, one reversed: each keeps its own NDCG, and the figure is their mean."""
    ranked = [Pair(f"b:{i}", "b", str(i), "r", "c", {}, {}, label) for i, label in enumerate([3, 0])]
    reversed_ = [Pair(f"a:{i}", "a", str(i), "r", "c", {}, {}, label) for i, label in enumerate([0, 3])]
    inputs = EvalInput(pairs=ranked + reversed_, probs=_one_hot([3, 0, 3, 0]), policy=policy, k=10)
    [ranking] = select_evaluators(["ranking"], available_evaluators(get_plugin_manager()))
    ndcg = evaluate(ranking, inputs)["ndcg@10"]
    assert list(ndcg.values) == ["b", "a"] and ndcg.higher_is_better
    assert ndcg.values["b"] == pytest.approx(1.0)
    assert ndcg.values["a"] == pytest.approx(1 / torch.log2(torch.tensor(3.0)).item())  # the relevant one at rank 2: 1/log2(3)
    assert ndcg.figure == pytest.approx((ndcg.values["a"] + ndcg.values["b"]) / 2)


def test_the_violation_rate_weights_each_request_by_its_top_k_slots(policy) -> None:
    """A request of 1 candidate (1 slot, broken) and one of 3 (2 slots, clean): 1 broken slot of 3, not the mean of 1.0 and 0.0."""
    remote = {"remote_only": True, "city": "Berlin", "open_to_relocation": True, "seniority": 2}
    onsite = {"workplace": "onsite", "city": "Berlin", "seniority": 2}
    remote_job = {"workplace": "remote", "city": "Berlin", "seniority": 2}
    pairs = [Pair("x:0", "x", "0", "r", "c", remote, onsite, 0)] + [Pair(f"y:{i}", "y", str(i), "r", "c", remote, remote_job, 2) for i in range(3)]
    [compliance] = select_evaluators(["policy_compliance"], available_evaluators(get_plugin_manager()))
    rate = evaluate(compliance, EvalInput(pairs=pairs, probs=_one_hot([0, 2, 2, 2]), policy=policy, k=2))["violation_rate@2"]
    assert rate.values == {"x": 1.0, "y": 0.0} and rate.weights == {"x": 1.0, "y": 2.0}
    assert rate.figure == pytest.approx(1 / 3) and not rate.higher_is_better


def test_the_violation_floor_is_the_share_of_slots_no_ranking_can_keep_free_of_rule_breakers(policy) -> None:
    """Request x: 1 slot, its only candidate breaks a rule (1 unavoidable); request y: 2 slots, 1 of its 3 candidates
    breaks one (0 unavoidable): 1 slot of 3, however the model ranks."""
    remote = {"remote_only": True, "city": "Berlin", "open_to_relocation": True, "seniority": 2}
    onsite = {"workplace": "onsite", "city": "Berlin", "seniority": 2}
    remote_job = {"workplace": "remote", "city": "Berlin", "seniority": 2}
    pairs = [Pair("x:0", "x", "0", "r", "c", remote, onsite, 0), Pair("y:0", "y", "0", "r", "c", remote, onsite, 0)]
    pairs += [Pair(f"y:{i}", "y", str(i), "r", "c", remote, remote_job, 2) for i in (1, 2)]
    [compliance] = select_evaluators(["policy_compliance"], available_evaluators(get_plugin_manager()))
    for ranked_first in ([3, 3, 0, 0], [0, 0, 3, 3]):  # the rule breaker of y first, then last
        out = evaluate(compliance, EvalInput(pairs=pairs, probs=_one_hot(ranked_first), policy=policy, k=2))
        assert out["violation_floor@2"] == {"rate": pytest.approx(1 / 3), "requests": 1}
    assert out["violation_rate@2"].figure == pytest.approx(1 / 3)  # the second ranking reaches the floor


@pytest.mark.slow
def test_a_plugins_evaluator_figures_reach_the_report_tables(tmp_path, register_plugin) -> None:
    """A float a custom evaluator returns is a column of report.md's table, a PerRequest one gets its interval too,
    and a mapping goes to the model's details."""
    from pathlib import Path

    from stillroom import hookimpl
    from stillroom.recipe.job import run_job
    from tests.helpers import compose_config

    class LevelGap:
        name = "level_gap"

        def __call__(self, inputs: EvalInput) -> dict:
            per_request = {request: 0.5 for request in inputs.request_ids}
            return {"level_gap@10": 0.25, "gap_by_request@10": PerRequest(per_request), "gap_notes": {"checked": len(inputs.pairs)}}

    class Plugin:
        @hookimpl
        def stillroom_evaluators(self) -> list:
            return [LevelGap()]

    register_plugin(Plugin(), name="courses")
    names = "[ranking,label_agreement,policy_compliance,level_gap]"
    report = run_job(compose_config("experiment=smoke", f"evaluator.names={names}"), Path(tmp_path))
    student = report["models"]["student"]
    assert student["metrics"]["level_gap@10"] == 0.25 and student["ci"]["gap_by_request@10"] == [0.5, 0.5]
    assert student["details"]["gap_notes"]["checked"] > 0
    header = next(line for line in (tmp_path / "report" / "report.md").read_text().splitlines() if line.startswith("| model |"))
    assert "| gap_by_request@10 |" in header and header.endswith("| level_gap@10 |")
