"""A synthetic people search, generated from a seed.

Member profiles carry a current title (with its job family), often a previous
one, skills, a city, a company and whether they show up in search. Searchers
type one of three kinds of query: a person's name, a role (the title itself
or the words people use for it, such as "SRE" or "data eng"), or a skill;
role and skill queries often add a city. A query understanding layer has
tagged each query with its intent and the title, skill or place it names: those
tags are the request fields the policy's rules read, while the models read only
the typed text.

Each query's candidates are the first stage's top hits: BM25 (``bm25s``) over
every profile, as a search stack retrieves before it reranks. Golden labels
come from the search policy (intent match and location match, capped by the
hard rules) blurred by annotator noise. The click log has the position bias
of a results page: a searcher looks at the top results far more often than at
the bottom ones, so clicks follow relevance only where they were looked at.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from stillroom.api import (
    Bm25Index,
    CatalogWorld,
    DataBundle,
    FirstStage,
    Pair,
    Policy,
    PolicyAnnotator,
    WorldSize,
    generate_bundle,
    package_yaml,
    sigmoid,
)

DIMENSIONS = ("intent_match", "location_match")
"""The policy dimensions this world knows how to score."""
INTENTS = {"name": 0.2, "role": 0.45, "skill": 0.35}
"""How often searchers type each kind of query."""
ROLE_MATCH = {"title": 1.0, "family": 0.6, "previous_title": 0.5, "adjacent": 0.2}
"""Intent match of a role query: the profile's current title, its family, its previous title, a neighbouring family."""
FAMILY_SKILL = 0.3
"""Intent match of a skill query on a profile whose family uses the skill but who does not list it."""
HIDDEN_SHARE = 0.08
POSITION_DECAY = 0.9
"""A searcher examines the result at position ``p`` (0 first) with probability ``1 / (1 + p) ** 0.9``."""


def vocabulary() -> dict[str, Any]:
    return package_yaml(__package__)


class SearchWorld(PolicyAnnotator):
    """Profiles, queries, and the policy's view of which profiles answer which query."""

    def __init__(self, policy: Policy, seed: int) -> None:
        super().__init__(policy, seed)
        vocab = vocabulary()
        self.families: dict[str, dict[str, Any]] = vocab["families"]
        self.cities: list[dict[str, str]] = vocab["cities"]
        self.family_of_title = {entry["title"]: family for family, info in self.families.items() for entry in info["titles"]}

    # -- sampling -------------------------------------------------------------

    def profile(self, profile_id: str) -> dict[str, Any]:
        vocab = vocabulary()
        family = self.rng.choice(list(self.families))
        info = self.families[family]
        previous_family = self.rng.choice([family, *info["adjacent"]])
        city = self.rng.choice(self.cities)
        skills = self.rng.sample(info["skills"], 4)
        skills.append(self.rng.choice([s for fam in info["adjacent"] for s in self.families[fam]["skills"] if s not in skills]))
        return {
            "profile_id": profile_id,
            "name": f"{self.rng.choice(vocab['first_names'])} {self.rng.choice(vocab['last_names'])}",
            "family": family,
            "title": self.rng.choice(info["titles"])["title"],
            "previous_title": self.rng.choice(self.families[previous_family]["titles"])["title"] if self.rng.random() < 0.6 else None,
            "skills": skills,
            "city": city["name"],
            "country": city["country"],
            "company": self.rng.choice(vocab["companies"]),
            "visibility": "hidden" if self.rng.random() < HIDDEN_SHARE else "public",
            "connections": min(5000, round(40 * self.rng.paretovariate(1.2))),
        }

    def query(self, query_id: str, profiles: list[dict[str, Any]]) -> dict[str, Any]:
        """A typed query and its tags: the intent, and the name, title, skill or city it names (``None`` where it names none)."""
        intent = self.rng.choices(list(INTENTS), weights=list(INTENTS.values()))[0]
        query: dict[str, Any] = {"query_id": query_id, "intent": intent, "name": None, "title": None, "family": None, "skill": None}
        if intent == "name":
            query["name"] = self.rng.choice(profiles)["name"]
            words = [query["name"]]
        elif intent == "role":
            query["family"] = self.rng.choice(list(self.families))
            entry = self.rng.choice(self.families[query["family"]]["titles"])
            query["title"] = entry["title"]
            words = [entry["title"] if self.rng.random() < 0.5 else self.rng.choice(entry["aliases"])]
        else:
            family = self.rng.choice(list(self.families))
            query["skill"] = self.rng.choice(self.families[family]["skills"])
            words = [query["skill"]]
        city = self.rng.choice(self.cities) if intent != "name" and self.rng.random() < 0.5 else None
        query["city"] = city["name"] if city else None
        query["country"] = city["country"] if city else None
        if city:
            words.append(city["name"])
        query["text"] = " ".join(words)
        return query

    # -- the policy applied ------------------------------------------------------

    def intent_match(self, query: Mapping[str, Any], profile: Mapping[str, Any]) -> float:
        if query["intent"] == "name":
            return 1.0 if profile["name"] == query["name"] else 0.0
        if query["intent"] == "skill":
            if query["skill"] in profile["skills"]:
                return 1.0
            return FAMILY_SKILL if query["skill"] in self.families[profile["family"]]["skills"] else 0.0
        matches = {
            "title": profile["title"] == query["title"],
            "family": profile["family"] == query["family"],
            "previous_title": profile["previous_title"] == query["title"],
            "adjacent": profile["family"] in self.families[query["family"]]["adjacent"],
        }
        return max((ROLE_MATCH[kind] for kind, matched in matches.items() if matched), default=0.0)

    def dimension_scores(self, query: Mapping[str, Any], profile: Mapping[str, Any]) -> dict[str, float]:
        if query["city"] is None:
            location = 0.5  # a query that names no place leaves location neutral
        elif profile["city"] == query["city"]:
            location = 1.0
        else:
            location = 0.5 if profile["country"] == query["country"] else 0.0
        return {"intent_match": self.intent_match(query, profile), "location_match": location}

    def engagement(self, query: Mapping[str, Any], profile: Mapping[str, Any]) -> dict[str, Any]:
        """Clicks where the searcher looked (position bias) and found the profile worth opening; connecting takes more."""
        relevance = self.true_score(query, profile) if profile["visibility"] == "public" else 0.0
        examined = self.rng.random() < 1.0 / (1 + profile["position"]) ** POSITION_DECAY
        clicked = examined and self.rng.random() < sigmoid(6.0 * (relevance - 0.55) + 0.2 * math.log(profile["connections"] / 40))
        connected = clicked and self.rng.random() < sigmoid(6.0 * (relevance - 0.8))
        return {
            "request_id": query["query_id"],
            "candidate_id": profile["profile_id"],
            "position": profile["position"],
            "clicked": clicked,
            "connected": connected,
        }


def query_text(query: Mapping[str, Any]) -> str:
    return str(query["text"])


def profile_text(profile: Mapping[str, Any]) -> str:
    """The profile as a search result shows it: name, current role, previous role, place, skills, reach, visibility."""
    role = f"{profile['title']} at {profile['company']}"
    if profile.get("previous_title"):
        role += f" | previously {profile['previous_title']}"
    place = f"{profile['city']}, {profile['country']}"
    reach = f"{profile['connections']} connections"
    return f"{profile['name']} | {role} | {place} | {', '.join(profile['skills'])} | {reach} | {profile['visibility']} profile"


def render(query: Mapping[str, Any], profile: Mapping[str, Any]) -> tuple[str, str]:
    return query_text(query), profile_text(profile)


class PeopleSearch(CatalogWorld):
    """The search world with its profiles and its first stage: queries as requests, profiles as candidates (a :class:`SyntheticWorld`).

    A query's slate is its top ``candidates_per_request`` profiles by BM25, as
    the results page would have listed them; each candidate remembers its
    position there, for the click log's position bias.
    """

    world: SearchWorld
    request_key, candidate_key = "query_id", "profile_id"
    render = staticmethod(render)

    def __init__(self, world: SearchWorld, size: WorldSize) -> None:
        super().__init__(world, size)
        self.profiles = [world.profile(f"profile-{i:05d}") for i in range(size.catalog)]
        self.first_stage = Bm25Index([profile_text(p) for p in self.profiles])
        self.test_recalls: list[float] = []

    def request(self, request_id: str) -> dict[str, Any]:
        return self.world.query(request_id, self.profiles)

    def slate(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        hits = self.first_stage.top([request["text"]], self.size.candidates_per_request)[0]
        if str(request["query_id"]).startswith("test-"):
            self.test_recalls += self.recall(request, hits)
        slate = [{**self.profiles[i], "position": position} for position, i in enumerate(hits)]
        self.world.rng.shuffle(slate)  # the reranker must not learn the first stage's order from the data's order
        return slate

    def recall(self, query: Mapping[str, Any], hits: list[int]) -> list[float]:
        """The share of the profiles the policy calls relevant to ``query`` (of the whole index) that the first stage
        listed: one value, or none when no profile is relevant. Draws nothing from the world's random stream."""
        policy, world = self.world.policy, self.world
        # The hard rules only lower a label: the profiles they could leave relevant are those the dimensions make relevant.
        cut = world.label_cuts[policy.relevant_label - 1]
        candidates = [i for i, profile in enumerate(self.profiles) if world.true_score(query, profile) >= cut]
        relevant = {i for i in candidates if world.policy_label(query, self.profiles[i]) >= policy.relevant_label}
        return [len(relevant.intersection(hits)) / len(relevant)] if relevant else []

    def first_stage_summary(self) -> FirstStage:
        recall = sum(self.test_recalls) / len(self.test_recalls) if self.test_recalls else 0.0
        return FirstStage("bm25", self.size.candidates_per_request, recall)

    def pair(self, request: Mapping[str, Any], candidate: Mapping[str, Any], label: int | None) -> Pair:
        """The pair as its profile is, wherever the first stage listed it: the position is the click log's, not the profile's."""
        return super().pair(request, {k: v for k, v in candidate.items() if k != "position"}, label)


def generate(policy: Policy, size: WorldSize, seed: int) -> DataBundle:
    """The search world of ``size`` drawn from ``seed``: golden splits, pool and click log, and the first stage's recall on test."""
    search = PeopleSearch(SearchWorld(policy, seed), size)
    return dataclasses.replace(generate_bundle(search, size), first_stage=search.first_stage_summary())
