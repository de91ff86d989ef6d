"""What every product's synthetic world owes the recipe, checked for each product: jobs, feed and search."""

from __future__ import annotations

import statistics
from types import ModuleType

import pytest

from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy.source import load_policy
from stillroom.products.feed import world as feed_world
from stillroom.products.jobs import world as jobs_world
from stillroom.products.search import world as search_world
from stillroom.synthetic import WorldSize

SIZE = WorldSize(train_requests=12, dev_requests=4, test_requests=6, pool_requests=30, candidates_per_request=20, catalog=400, annotator_noise=0.1)
WORLDS: dict[str, tuple[ModuleType, type]] = {
    "jobs": (jobs_world, jobs_world.JobsWorld),
    "feed": (feed_world, feed_world.FeedWorld),
    "search": (search_world, search_world.SearchWorld),
}


@pytest.fixture(scope="module", params=sorted(WORLDS))
def product(request):
    """A product's name, its policy, its world module, a labeler from that world, and a generated bundle."""
    name = request.param
    module, world_class = WORLDS[name]
    policy = load_policy(f"stillroom.products.{name}:policy.md", get_plugin_manager())
    return name, policy, module, world_class(policy, seed=0), module.generate(policy, SIZE, seed=11)


def test_same_seed_same_world_other_seed_other_world(product) -> None:
    _, policy, module, _, bundle = product
    again, other = module.generate(policy, SIZE, seed=11), module.generate(policy, SIZE, seed=12)
    assert [p.to_row() for p in again.golden["train"]] == [p.to_row() for p in bundle.golden["train"]]
    assert [p.request_text for p in other.golden["train"]] != [p.request_text for p in bundle.golden["train"]]


def test_sizes_splits_and_pool(product) -> None:
    bundle = product[4]
    assert len(bundle.golden["train"]) == SIZE.train_requests * SIZE.candidates_per_request
    assert len(bundle.pool) == SIZE.pool_requests * SIZE.candidates_per_request
    assert all(p.label is None for p in bundle.pool)
    requests = {split: {p.request_id for p in pairs} for split, pairs in bundle.splits().items()}
    assert not requests["train"] & requests["test"] and not requests["pool"] & requests["train"]
    assert len(bundle.engagement) == sum(len(pairs) for pairs in bundle.splits().values())


def test_golden_labels_use_the_whole_scale_and_obey_hard_rules_before_noise(product) -> None:
    _, policy, _, world, bundle = product
    labels = [p.label for pairs in bundle.golden.values() for p in pairs]
    assert set(labels) == set(range(policy.num_labels))
    broken = 0
    for pair in bundle.golden["train"]:
        clean = world.policy_label(dict(pair.request), dict(pair.candidate))
        caps = [r.max_label for r in policy.rules_broken(pair.request, pair.candidate)]
        broken += bool(caps)
        assert clean <= min(caps, default=policy.max_label)
        assert abs(pair.label - clean) <= 1  # annotator noise moves a label by one grade at most
    assert broken > 0  # every rule-bound world serves some rule breakers, as real slates do


def test_the_world_annotates_every_precedent_as_the_policy_settles_it(product) -> None:
    """The golden labels and the precedents must not contradict each other: the gate asks a model trained on one to get the other right."""
    _, policy, _, world, _ = product
    assert len(policy.precedents) >= 9
    for precedent in policy.precedents:
        assert world.policy_label(dict(precedent.request), dict(precedent.candidate)) == precedent.label, precedent.why


def test_every_rule_of_the_policy_is_broken_somewhere_in_the_world(product) -> None:
    _, policy, _, _, bundle = product
    seen = {rule.id for pairs in bundle.splits().values() for p in pairs for rule in policy.rules_broken(p.request, p.candidate)}
    assert seen == {rule.id for rule in policy.rules}


def test_engagement_follows_relevance(product) -> None:
    name, _, _, world, bundle = product
    event = {"jobs": "applied", "feed": "liked", "search": "clicked"}[name]
    pairs = {(p.request_id, p.candidate_id): p for pairs in bundle.splits().values() for p in pairs}
    engaged, ignored = [], []
    for row in bundle.engagement:
        pair = pairs[(row["request_id"], row["candidate_id"])]
        (engaged if row[event] else ignored).append(world.true_score(dict(pair.request), dict(pair.candidate)))
    assert statistics.mean(engaged) > statistics.mean(ignored) + 0.1


def test_pairs_render_as_the_data_source_renders_them(product) -> None:
    name, _, _, _, bundle = product
    pair = bundle.golden["train"][0]
    hook = get_plugin_manager().hook.stillroom_render_pair
    assert hook(product=name, request=pair.request, candidate=pair.candidate) == (pair.request_text, pair.candidate_text)
    assert hook(product="no-such-product", request=pair.request, candidate=pair.candidate) is None  # each answers for its own


def test_people_search_reports_its_first_stage_recall_on_test() -> None:
    """With every profile listed (an index no bigger than the slate) BM25 finds every relevant profile; with a
    slate of 5 out of 400 it misses some, and its recall says how many."""
    policy = load_policy("stillroom.products.search:policy.md", get_plugin_manager())
    everything = WorldSize(train_requests=4, dev_requests=2, test_requests=20, pool_requests=4, candidates_per_request=30, catalog=30, annotator_noise=0.0)
    whole = search_world.generate(policy, everything, seed=3).first_stage
    assert (whole.name, whole.k, whole.recall) == ("bm25", 30, 1.0)
    narrow = search_world.generate(policy, WorldSize(4, 2, 20, 4, 5, 400, 0.0), seed=3).first_stage
    assert narrow.k == 5 and 0.0 < narrow.recall < 1.0


def test_a_world_and_its_policy_must_name_the_same_dimensions_both_ways() -> None:
    from stillroom.errors import StillroomError
    from stillroom.synthetic import require_dimensions

    policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
    weighed = list(policy.dimension_weights())
    require_dimensions(policy, weighed, "jobs")
    with pytest.raises(StillroomError, match=rf"the world does not score \['{weighed[-1]}'\]"):
        require_dimensions(policy, weighed[:-1], "jobs")  # once a KeyError deep in labeling
    with pytest.raises(StillroomError, match=r"the policy lacks \['tone'\]"):
        require_dimensions(policy, [*weighed, "tone"], "jobs")
