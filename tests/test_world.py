"""The jobs product's synthetic world: real vocabulary, policy-applied labels, biased engagement."""

from __future__ import annotations

import statistics

import pytest

from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy.source import load_policy
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


