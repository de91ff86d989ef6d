"""Pair features: what production hands a reranker beside the texts, normalised within each request."""

from __future__ import annotations

import pytest
import torch

from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.features import INPUT, check_feature_names, chosen_by_first_stage, feature_names, model_inputs, pair_features


def _pair(request: str, candidate: str, score: float | None) -> Pair:
    return Pair(f"{request}:{candidate}", request, candidate, request, candidate, first_stage_score=score)


def test_the_first_stage_score_is_min_max_normalised_within_its_request() -> None:
    pairs = [_pair("q1", "a", 12.0), _pair("q2", "a", 0.3), _pair("q1", "b", 4.0), _pair("q1", "c", 8.0), _pair("q2", "b", 0.1)]
    assert [row["first_stage_score"] for row in pair_features(pairs)] == pytest.approx([1.0, 1.0, 0.0, 0.5, 0.0])


def test_a_request_without_scores_or_with_equal_ones_reads_zero() -> None:
    pairs = [_pair("q1", "a", None), _pair("q1", "b", None), _pair("q2", "a", 3.0), _pair("q2", "b", 3.0)]
    assert [row["first_stage_score"] for row in pair_features(pairs)] == [0.0, 0.0, 0.0, 0.0]


def test_a_candidate_the_first_stage_did_not_choose_is_left_out_of_the_normalisation_and_of_what_it_served() -> None:
    missed = _pair("q1", "judged", None)  # a judged document BM25 missed, added to a train list
    pairs = [_pair("q1", "a", 12.0), _pair("q1", "b", 4.0), missed, _pair("q2", "a", None), _pair("q2", "b", None)]
    assert [row["first_stage_score"] for row in pair_features(pairs)] == pytest.approx([1.0, 0.0, 0.0, 0.0, 0.0])
    assert chosen_by_first_stage(pairs) == [True, True, False, True, True]  # q2 has no first stage: all of it stays


class _Texts(torch.nn.Module):
    def tokenize(self, requests, candidates):
        return {"lengths": torch.tensor([[len(r), len(c)] for r, c in zip(requests, candidates, strict=True)])}


class _Reader(_Texts):
    pair_features = ("first_stage_score",)


def test_only_a_model_that_declares_features_gets_them_beside_its_tokens() -> None:
    rows = [{"first_stage_score": 0.25}, {"first_stage_score": 1.0}]
    assert set(model_inputs(_Texts(), ["a", "b"], ["c", "d"], rows)) == {"lengths"} and feature_names(_Texts()) == ()
    inputs = model_inputs(_Reader(), ["a", "b"], ["c", "d"], rows)
    assert torch.equal(inputs[INPUT], torch.tensor([[0.25], [1.0]]))
    assert torch.equal(model_inputs(_Reader(), ["a"], ["c"])[INPUT], torch.tensor([[0.0]]))  # a pair without features (a precedent)


def test_a_feature_the_engine_does_not_compute_is_a_config_error() -> None:
    assert check_feature_names(["first_stage_score"], "student.features") == ("first_stage_score",)
    with pytest.raises(StillroomError, match="no pair feature 'bm25_rank'; the run has: first_stage_score \\(declare") as raised:
        check_feature_names(["bm25_rank"], "student.features")
    assert raised.value.where == "student.features"
    assert check_feature_names(["by_connection"], "student.features", declared=["by_connection"]) == ("by_connection",)


def test_declared_features_ride_beside_the_first_stage_score_as_the_pair_carries_them() -> None:
    pairs = [
        Pair("q1:a", "q1", "a", "q", "a", first_stage_score=2.0, features={"by_connection": 1.0}),
        Pair("q1:b", "q1", "b", "q", "b", first_stage_score=1.0, features={"by_connection": 1.0}),
    ]
    # Not normalised within the request: both candidates are by a connection, and both still read 1.
    assert pair_features(pairs) == [{"first_stage_score": 1.0, "by_connection": 1.0}, {"first_stage_score": 0.0, "by_connection": 1.0}]
