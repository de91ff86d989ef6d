"""Intervals over requests, paired comparisons and their verdicts, on values whose answer is known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stillroom.errors import StillroomError
from stillroom.evaluation import PerRequest
from stillroom.evaluation.comparisons import compare, comparison_pairs
from stillroom.evaluation.significance import IntervalSettings, mean_interval, paired_difference, verdict

SETTINGS = IntervalSettings(resamples=4000, seed=3)


def test_a_mean_interval_holds_the_mean_and_narrows_as_requests_grow() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.uniform(0, 1, 30), rng.uniform(0, 1, 300)
    low, high = mean_interval(small, np.ones(30), SETTINGS)
    assert low < small.mean() < high
    big_low, big_high = mean_interval(large, np.ones(300), SETTINGS)
    assert big_high - big_low < (high - low) * 0.6  # about 1/sqrt(10) as wide


def test_a_constant_figure_has_no_spread_and_a_constant_difference_is_exact() -> None:
    assert mean_interval([0.5] * 5, [1] * 5, SETTINGS) == (0.5, 0.5)
    same = paired_difference([0.4, 0.6, 0.8], [0.4, 0.6, 0.8], [1, 1, 1], SETTINGS)
    assert (same.difference, same.ci, same.p_value) == (0.0, (0.0, 0.0), 1.0) and verdict(same.ci) == "not resolved"
    shifted = paired_difference([0.5, 0.7, 0.9], [0.4, 0.6, 0.8], [1, 1, 1], SETTINGS)
    assert shifted.difference == pytest.approx(0.1) and verdict(shifted.ci) == "better"


def test_pairing_resolves_a_small_steady_gain_that_the_requests_own_spread_would_hide() -> None:
    rng = np.random.default_rng(1)
    difficulty = rng.uniform(0.2, 0.9, 60)  # requests differ far more than the models do
    b = difficulty
    a = difficulty + 0.03 + rng.normal(0, 0.01, 60)
    result = paired_difference(a, b, np.ones(60), SETTINGS)
    assert result.ci[0] > 0 and result.p_value < 0.001 and verdict(result.ci) == "better"
    alone = [mean_interval(x, np.ones(60), SETTINGS) for x in (a, b)]
    assert alone[0][0] < alone[1][1]  # each model's own interval overlaps the other's: only the pairing tells them apart
    assert verdict(paired_difference(b, a, np.ones(60), SETTINGS).ci) == "worse"


def test_noise_without_a_difference_is_not_resolved() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0, 1, 40), rng.uniform(0, 1, 40)
    a = a - (a - b).mean()  # exactly no mean difference
    result = paired_difference(a, b, np.ones(40), SETTINGS)
    assert result.ci[0] < 0 < result.ci[1] and result.p_value > 0.5 and verdict(result.ci) == "not resolved"


def test_the_p_value_is_the_paired_randomization_test_and_weights_count() -> None:
    """Four requests: scipy enumerates all 16 swaps; the same enumeration by hand gives the same p-value."""
    a, b, w = np.array([0.9, 0.8, 0.7, 0.2]), np.array([0.5, 0.6, 0.7, 0.3]), np.array([1.0, 2.0, 1.0, 4.0])
    result = paired_difference(a, b, w, SETTINGS)
    d = a - b
    observed = np.sum(w * d) / np.sum(w)
    assert result.difference == pytest.approx(observed)
    flipped = [np.sum(w * d * np.array(signs)) / np.sum(w) for signs in itertools.product((1, -1), repeat=4)]
    by_hand = np.mean([abs(value) >= abs(observed) - 1e-12 for value in flipped])
    assert result.p_value == pytest.approx(by_hand)


def test_a_lower_is_better_metric_turns_the_verdict_around() -> None:
    assert verdict((-0.2, -0.1), higher_is_better=False) == "better"
    assert verdict((0.1, 0.2), higher_is_better=False) == "worse"
    assert verdict((-0.1, 0.1), higher_is_better=False) == "not resolved"


def test_comparison_pairs_expand_baselines_and_name_an_unknown_model() -> None:
    models, baselines = ["teacher", "student", "student_no_kd"], ["bm25", "zero_shot"]
    spec = [["student", "teacher"], ["student", "baselines"], ["teacher", "baselines"], ["student", "teacher"]]
    assert comparison_pairs(spec, models, baselines) == [
        ("student", "teacher"), ("student", "bm25"), ("student", "zero_shot"), ("teacher", "bm25"), ("teacher", "zero_shot")
    ]
    with pytest.raises(StillroomError, match="this run evaluates no model 'judge'") as caught:
        comparison_pairs([["student", "teacher"], ["judge", "student"]], models, baselines)
    assert caught.value.where == "evaluator.comparisons[1]"
    with pytest.raises(StillroomError, match=r"expected a pair \[a, b\]"):
        comparison_pairs([["student"]], models, baselines)


def test_compare_pairs_requests_by_id_whatever_order_each_model_listed_them() -> None:
    student = {"ndcg@10": PerRequest({"q1": 0.9, "q2": 0.5, "q3": 0.7}), "rate": PerRequest({"q1": 0.0, "q2": 0.5, "q3": 0.0}, higher_is_better=False)}
    teacher = {"ndcg@10": PerRequest({"q3": 0.6, "q1": 0.8, "q2": 0.4})}
    [row] = compare({"student": student, "teacher": teacher}, [("student", "teacher")], SETTINGS)
    assert row["metric"] == "ndcg@10" and row["difference"] == pytest.approx(0.1) and row["verdict"] == "better"  # 0.1 on every request
    assert row["requests"] == 3 and row["ci"] == pytest.approx([0.1, 0.1])
