"""A synthetic professional feed, generated from a seed.

Members read one or two languages, follow three topics and are connected to a
handful of authors; authors write posts on their topic, mostly in their own
language, and a few write spam. Golden labels come from applying the feed
policy (topical match, network closeness, freshness, capped by the hard rules)
and are blurred by annotator noise. The engagement log (views, likes,
comments, dwell time) follows relevance but leans towards popular authors, as
real logs do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stillroom.api import CatalogWorld, DataBundle, Policy, PolicyAnnotator, WorldSize, generate_bundle, package_yaml, sigmoid

DIMENSIONS = ("topical_match", "network_closeness", "freshness")
"""The policy dimensions this world knows how to score."""
INTEREST_MATCH = (1.0, 0.8, 0.6)
"""Topical match of a post on a member's first, second and third topic."""
ADJACENT_MATCH = 0.3
FRESHNESS_HOURS = 72.0
"""Freshness is ``exp(-age / 72 h)``: a day-old post keeps 72%, a week-old one 10%."""
SPAM_SHARE = 0.06


def vocabulary() -> dict[str, Any]:
    return package_yaml(__package__)


def topic_name(topic: str) -> str:
    return topic.replace("_", " ")


class FeedWorld(PolicyAnnotator):
    """Members, authors and posts, and the policy's view of which posts belong in which member's feed."""

    def __init__(self, policy: Policy, seed: int) -> None:
        super().__init__(policy, seed)
        vocab = vocabulary()
        self.topics: dict[str, dict[str, Any]] = vocab["topics"]
        self.languages: list[str] = vocab["languages"]

    # -- sampling -------------------------------------------------------------

    def author(self, author_id: str) -> dict[str, Any]:
        vocab = vocabulary()
        return {
            "author_id": author_id,
            "name": f"{self.rng.choice(vocab['first_names'])} {self.rng.choice(vocab['last_names'])}",
            "topic": self.rng.choice(list(self.topics)),
            "language": self.rng.choices(self.languages, weights=(6, 2, 2, 2, 1))[0],
            "popularity": round(self.rng.paretovariate(1.5), 3),
        }

    def member(self, member_id: str, authors: list[dict[str, Any]]) -> dict[str, Any]:
        languages = [self.rng.choices(self.languages, weights=(6, 2, 2, 2, 1))[0]]
        if languages[0] != self.languages[0] and self.rng.random() < 0.6:
            languages.append(self.languages[0])  # English, the network's common language
        elif self.rng.random() < 0.3:
            languages.append(self.rng.choice([lang for lang in self.languages if lang not in languages]))
        topics = self.rng.sample(list(self.topics), 3)
        near = [a for a in authors if a["topic"] in topics]
        connections = self.rng.sample(near, min(3, len(near))) + self.rng.sample(authors, 2)
        return {
            "member_id": member_id,
            "languages": languages,
            "topics": topics,
            "connections": list(dict.fromkeys(a["name"] for a in connections)),
        }

    def post(self, post_id: str, author: dict[str, Any]) -> dict[str, Any]:
        spam = self.rng.random() < SPAM_SHARE
        headlines = vocabulary()["spam"] if spam else self.topics[author["topic"]]["headlines"]
        language = author["language"] if self.rng.random() < 0.85 else self.rng.choice(self.languages)
        return {
            "post_id": post_id,
            "author": author["name"],
            "topic": author["topic"],
            "headline": self.rng.choice(headlines),
            "language": language,
            "age_hours": max(1, round(self.rng.expovariate(1 / 80))),
            "format": self.rng.choice(vocabulary()["formats"]),
            "spam": spam,
            "popularity": author["popularity"],
        }

    # -- the policy applied ------------------------------------------------------

    def dimension_scores(self, member: Mapping[str, Any], post: Mapping[str, Any]) -> dict[str, float]:
        if post["topic"] in member["topics"]:
            topical = INTEREST_MATCH[member["topics"].index(post["topic"])]
        elif any(post["topic"] in self.topics[topic]["adjacent"] for topic in member["topics"]):
            topical = ADJACENT_MATCH
        else:
            topical = 0.0
        network = 1.0 if post["author"] in member["connections"] else 0.0
        freshness = math.exp(-post["age_hours"] / FRESHNESS_HOURS)
        return {"topical_match": topical, "network_closeness": network, "freshness": freshness}

    def engagement(self, member: Mapping[str, Any], post: Mapping[str, Any]) -> dict[str, Any]:
        """Views, likes and comments follow relevance, leaning towards popular authors; spam still draws views."""
        relevance = self.true_score(member, post)
        popularity = math.log(post["popularity"])
        viewed = self.rng.random() < sigmoid(2.0 * (relevance - 0.4) + 0.8 * popularity + (0.5 if post["spam"] else 0.0))
        liked = viewed and self.rng.random() < sigmoid(5.0 * (relevance - 0.6) + 0.5 * popularity)
        commented = liked and self.rng.random() < sigmoid(6.0 * (relevance - 0.75))
        dwell = round(self.rng.lognormvariate(math.log(4 + 40 * relevance), 0.5), 1) if viewed else 0.0
        return {
            "request_id": member["member_id"],
            "candidate_id": post["post_id"],
            "viewed": viewed,
            "liked": liked,
            "commented": commented,
            "dwell_seconds": dwell,
        }


def age_text(hours: int) -> str:
    return f"{hours} hours ago" if hours < 48 else f"{hours // 24} days ago"


def member_text(member: Mapping[str, Any]) -> str:
    topics = ", ".join(topic_name(t) for t in member["topics"])
    return f"Reads {', '.join(member['languages'])} | Follows {topics} | Connected to {', '.join(member['connections'])}"


def post_text(post: Mapping[str, Any]) -> str:
    """The post as a feed card shows it: headline, topic tag, author, language, age and format."""
    where = f"{topic_name(post['topic'])} | by {post['author']} | in {post['language']}"
    return f"{post['headline']} | {where} | {age_text(post['age_hours'])} | {post['format']}"



def render(member: Mapping[str, Any], post: Mapping[str, Any]) -> tuple[str, str]:
    return member_text(member), post_text(post)


class FeedNetwork(CatalogWorld):
    """The feed world with its authors and posts: members as requests, posts as candidates (a :class:`SyntheticWorld`).

    A member's slate mixes what a feed's candidate generators give: posts by
    their connections and posts on the topics they follow, in the languages they
    read, and the rest of the network in any language.
    """

    world: FeedWorld
    request_key, candidate_key = "member_id", "post_id"
    render = staticmethod(render)

    def __init__(self, world: FeedWorld, size: WorldSize) -> None:
        super().__init__(world, size)
        self.authors = [world.author(f"author-{i:04d}") for i in range(max(20, size.catalog // 10))]
        self.posts = [world.post(f"post-{i:05d}", world.rng.choice(self.authors)) for i in range(size.catalog)]
        self.by_author: dict[str, list[int]] = {}
        self.by_topic: dict[str, list[int]] = {}
        for index, post in enumerate(self.posts):
            self.by_author.setdefault(post["author"], []).append(index)
            self.by_topic.setdefault(post["topic"], []).append(index)

    def request(self, request_id: str) -> dict[str, Any]:
        return self.world.member(request_id, self.authors)

    def slate(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        n = self.size.candidates_per_request
        rng = self.world.rng
        readable = {i for i, post in enumerate(self.posts) if post["language"] in request["languages"]}
        network = [i for name in request["connections"] for i in self.by_author.get(name, []) if i in readable]
        followed = [i for topic in request["topics"] for i in self.by_topic.get(topic, []) if i in readable]
        chosen: list[int] = []
        for source, share in ((network, 0.3), (followed, 0.4)):
            fresh = [i for i in source if i not in set(chosen)]
            chosen += rng.sample(fresh, min(len(fresh), round(n * share)))
        rest = [i for i in range(len(self.posts)) if i not in set(chosen)]
        chosen += rng.sample(rest, n - len(chosen))
        rng.shuffle(chosen)
        return [self.posts[i] for i in chosen]


def generate(policy: Policy, size: WorldSize, seed: int) -> DataBundle:
    """The feed world of ``size`` drawn from ``seed``: golden splits, pool and engagement log."""
    return generate_bundle(FeedNetwork(FeedWorld(policy, seed), size), size)
