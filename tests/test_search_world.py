"""The search product's world: typed queries with tagged intents, a BM25 first stage, a click log with position bias."""

from __future__ import annotations

import statistics

import pytest

from stillroom.plugin_manager import get_plugin_manager
from stillroom.retrieval import Bm25Index
from stillroom.policy.source import load_policy
from stillroom.products.search.world import PeopleSearch, SearchWorld, profile_text, vocabulary
from stillroom.synthetic import WorldSize, generate_bundle

SIZE = WorldSize(train_requests=20, dev_requests=4, test_requests=6, pool_requests=60, candidates_per_request=20, catalog=500, annotator_noise=0.1)


@pytest.fixture(scope="module")
def search():
    policy = load_policy("stillroom.products.search:policy.md", get_plugin_manager())
    return PeopleSearch(SearchWorld(policy, seed=3), SIZE)


def test_queries_type_what_their_tags_say(search) -> None:
    profiles = {p["name"] for p in search.profiles}
    aliases = {e["title"]: e["aliases"] for info in vocabulary()["families"].values() for e in info["titles"]}
    queries = [search.request(f"q-{i}") for i in range(200)]
    assert {q["intent"] for q in queries} == {"name", "role", "skill"}
    for query in queries:
        typed = query["text"].removesuffix(f" {query['city']}") if query["city"] else query["text"]
        if query["intent"] == "name":
            assert typed == query["name"] and query["name"] in profiles  # a name search looks for someone who exists
        elif query["intent"] == "role":
            assert typed in (query["title"], *aliases[query["title"]])
        else:
            assert typed == query["skill"]
    assert any(q["intent"] == "role" and q["title"] not in q["text"] for q in queries)  # searchers use other words for titles


def test_a_slate_is_the_first_stages_top_hits_over_the_whole_index(search) -> None:
    index = Bm25Index([profile_text(p) for p in search.profiles])
    query = search.request("q-slate")
    slate = search.slate(query)
    scores = index.scores(query["text"])
    row = {p["profile_id"]: i for i, p in enumerate(search.profiles)}
    chosen = {row[c["profile_id"]] for c in slate}
    assert len(chosen) == SIZE.candidates_per_request
    assert min(scores[i] for i in chosen) >= max(s for i, s in enumerate(scores) if i not in chosen)
    by_position = sorted(slate, key=lambda c: c["position"])
    assert [scores[row[c["profile_id"]]] for c in by_position] == sorted((scores[i] for i in chosen), reverse=True)
    assert [c["position"] for c in slate] != sorted(c["position"] for c in slate)  # served shuffled: the data's order tells nothing


def test_clicks_follow_relevance_where_the_searcher_looked(search) -> None:
    bundle = generate_bundle(search, SIZE)
    pairs = {(p.request_id, p.candidate_id): p for pairs in bundle.splits().values() for p in pairs}
    top, bottom = [], []
    for row in bundle.engagement:
        pair = pairs[(row["request_id"], row["candidate_id"])]
        if search.world.true_score(pair.request, pair.candidate) >= 0.7 and pair.candidate["visibility"] == "public":
            (top if row["position"] < 5 else bottom if row["position"] >= 15 else []).append(row["clicked"])
    assert len(top) > 30 and len(bottom) > 30
    assert statistics.mean(top) > 2 * statistics.mean(bottom)  # the same relevance draws fewer clicks lower down
    assert all(not row["connected"] or row["clicked"] for row in bundle.engagement)


def test_the_policy_reads_intent_not_shared_words(search) -> None:
    world = search.world
    query = {"intent": "role", "text": "SRE", "title": "Site Reliability Engineer", "family": "devops_sre", "city": None, "country": None}
    profile = {"title": "Site Reliability Engineer", "family": "devops_sre", "previous_title": None, "city": "Lyon", "country": "France"}
    impostor = {**profile, "title": "Security Engineer", "family": "security", "previous_title": "Data Engineer"}
    assert world.policy_label(query, {**profile, "visibility": "public"}) == 3  # no word shared with "SRE"
    assert world.policy_label(query, {**impostor, "visibility": "public"}) == 0  # "Engineer" twice, yet only a neighbouring family
    assert world.policy_label(query, {**profile, "visibility": "hidden"}) == 0
