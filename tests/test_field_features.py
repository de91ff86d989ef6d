"""Features a product declares over a pair's fields: checked when read, computed for data and precedents alike."""

from __future__ import annotations

import pytest

from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.field_features import FieldFeature, declared_features, with_field_features


def _pair(request: dict, candidate: dict) -> Pair:
    return Pair("r:c", "r", "c", "member", "post", request=request, candidate=candidate)


def test_each_declared_feature_is_computed_from_the_pairs_fields() -> None:
    features = declared_features({"by_connection": "candidate.author in request.connections", "age_weeks": "min(candidate.age_hours / 168, 4)"})
    pairs = with_field_features(
        [
            _pair({"connections": ["Ana Lopez"]}, {"author": "Ana Lopez", "age_hours": 84}),
            _pair({"connections": []}, {"author": "Ben", "age_hours": 5000}),
        ],
        features,
    )
    assert [dict(p.features) for p in pairs] == [{"by_connection": 1.0, "age_weeks": 0.5}, {"by_connection": 0.0, "age_weeks": 4.0}]


def test_a_missing_field_or_none_reads_zero_and_nothing_declared_leaves_pairs_alone() -> None:
    feature = FieldFeature("same_title", "request.title")
    assert feature.value({}, {}) == 0.0 and feature.value({"title": None}, {}) == 0.0
    pair = _pair({}, {})
    assert with_field_features([pair], ()) == [pair]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("candidate.topic in", "is not a valid expression"),
        ("__import__('os')", "reads unknown name '__import__'"),
        ("candidate.__class__", "reads private attribute '__class__'"),
        (3, "expected an expression"),
    ],
)
def test_a_bad_expression_is_refused_with_the_key_that_holds_it(expression: object, message: str) -> None:
    with pytest.raises(StillroomError, match=message) as raised:
        declared_features({"topic": expression})
    assert raised.value.where == "product.features.topic"


def test_a_value_that_is_not_a_number_is_an_error_naming_the_feature() -> None:
    (feature,) = declared_features({"topic": "candidate.topic"})
    with pytest.raises(StillroomError, match="gave 'python', expected a number or a truth value") as raised:
        feature.value({}, {"topic": "python"})
    assert raised.value.where == "product.features.topic"
    (broken,) = declared_features({"older": "candidate.age_hours > request.since"})
    with pytest.raises(StillroomError, match="cannot be evaluated"):
        broken.value({"since": "yesterday"}, {"age_hours": 3})


def test_feed_and_search_declare_what_their_models_read_and_a_collection_clears_it() -> None:
    from tests.helpers import compose_config

    for product in ("feed", "search"):
        cfg = compose_config(f"product={product}")
        declared = [f.name for f in declared_features(cfg.product.features)]
        assert cfg.product.first_stage_scorer == "bm25" and declared
        for role in ("teacher", "student"):
            assert list(cfg[role].features) == ["first_stage_score", *declared], (product, role)
    assert compose_config("product=search").serving.hard_rules == "policy" and compose_config("product=feed").serving.hard_rules == "off"
    beir = compose_config("product=search", "data=beir")  # its pairs carry no fields and BM25 is already their first stage
    assert beir.product.features is None and beir.product.first_stage_scorer is None and beir.serving.hard_rules == "off"
    assert list(beir.student.features) == ["first_stage_score"]
