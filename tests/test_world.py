"""The jobs product's synthetic world: real vocabulary, policy-applied labels, biased engagement."""

from __future__ import annotations

import statistics

import pytest

from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy_source import load_policy
from stillroom.products.jobs.world import JobsWorld, generate, vocabulary
from stillroom.synthetic import WorldSize

SIZE = WorldSize(train_requests=12, dev_requests=4, test_requests=6, pool_requests=30, candidates_per_request=20, catalog=400, annotator_noise=0.1)


@pytest.fixture(scope="module")
def policy():
    return load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())


@pytest.fixture(scope="module")
def bundle(policy):
    return generate(policy, SIZE, seed=11)


def test_vocabulary_has_hundreds_of_real_titles_and_skills() -> None:
    families = vocabulary()["families"]
    titles = [t for f in families.values() for t in f["titles"]]
    skills = {s for f in families.values() for s in f["skills"]}
    assert len(titles) >= 200 and len(set(titles)) == len(titles)
    assert len(skills) >= 300
    assert "Data Engineer" in titles and "Apache Spark" in skills


def test_same_seed_same_world_other_seed_other_world(policy, bundle) -> None:
    again = generate(policy, SIZE, seed=11)
    other = generate(policy, SIZE, seed=12)
    assert [p.to_row() for p in again.golden["train"]] == [p.to_row() for p in bundle.golden["train"]]
    assert [p.request_text for p in other.golden["train"]] != [p.request_text for p in bundle.golden["train"]]


def test_sizes_splits_and_pool(bundle) -> None:
    assert len(bundle.golden["train"]) == SIZE.train_requests * SIZE.candidates_per_request
    assert len(bundle.pool) == SIZE.pool_requests * SIZE.candidates_per_request
    assert len(bundle.pool) > 2 * len(bundle.golden["train"])
    assert all(p.label is None for p in bundle.pool)
    members = {split: {p.request_id for p in pairs} for split, pairs in bundle.splits().items()}
    assert not members["train"] & members["test"] and not members["pool"] & members["train"]


def test_golden_labels_use_the_whole_scale_and_obey_hard_rules_before_noise(policy, bundle) -> None:
    labels = [p.label for pairs in bundle.golden.values() for p in pairs]
    assert set(labels) == {0, 1, 2, 3}
    world = JobsWorld(policy, seed=0)
    for pair in bundle.golden["train"]:
        clean = world.policy_label(dict(pair.request), dict(pair.candidate))
        assert clean <= min([r.max_label for r in policy.rules_broken(pair.request, pair.candidate)], default=3)
        assert abs(pair.label - clean) <= 1  # annotator noise moves a label by one grade at most


def test_precedents_agree_with_the_world_labeler(policy) -> None:
    world = JobsWorld(policy, seed=0)
    for precedent in policy.precedents:
        assert world.policy_label(dict(precedent.request), dict(precedent.candidate)) == precedent.label, precedent.why


def test_engagement_follows_relevance_but_is_biased_by_popularity(policy, bundle) -> None:
    world = JobsWorld(policy, seed=0)
    pairs = {(p.request_id, p.candidate_id): p for pairs in bundle.splits().values() for p in pairs}
    applied, ignored, popular, obscure = [], [], [], []
    for event in bundle.engagement:
        pair = pairs[(event["request_id"], event["candidate_id"])]
        score = world.true_score(dict(pair.request), dict(pair.candidate))
        (applied if event["applied"] else ignored).append(score)
        if 0.4 <= score <= 0.6:
            (popular if pair.candidate["popularity"] > 2 else obscure).append(event["viewed"])
    assert statistics.mean(applied) > statistics.mean(ignored) + 0.1
    assert statistics.mean(popular) > statistics.mean(obscure)


def test_the_world_annotates_every_precedent_as_the_policy_settles_it(policy) -> None:
    # The golden labels and the policy's precedents must not contradict each other: the gate asks
    # a judge trained on the former to label the latter right.
    world = JobsWorld(policy, seed=0)
    assert len(policy.precedents) >= 9
    for precedent in policy.precedents:
        assert world.policy_label(dict(precedent.request), dict(precedent.candidate)) == precedent.label, precedent.why


def test_pairs_render_as_the_jobs_data_source_renders_them(policy, bundle) -> None:
    pair = bundle.golden["train"][0]
    rendered = get_plugin_manager().hook.stillroom_render_pair(product="jobs", request=pair.request, candidate=pair.candidate)
    assert rendered == (pair.request_text, pair.candidate_text)
    assert get_plugin_manager().hook.stillroom_render_pair(product="feed", request=pair.request, candidate=pair.candidate) is None
