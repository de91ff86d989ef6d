"""A starter synthetic world: members with three interests and a region, items in a category and a region.

It is here so that the whole recipe runs from the first install, and to show
what a world owes stillroom: requests, the slate a first stage gives each,
labels that follow the policy (``policy.md``) with an annotator's noise, and an
engagement log. Replace the vocabulary and the scoring with your product's, or
bring files instead (``data=jsonl data.path=...``) and keep the policy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stillroom.api import CatalogWorld, DataBundle, Policy, PolicyAnnotator, WorldSize, generate_bundle, sigmoid

DIMENSIONS = ("interest_match", "region_match", "quality")
"""The policy dimensions this world scores; the policy must weigh exactly these."""
CATEGORIES = {
    "analytics": ["Dashboards that answer one question", "A metrics layer in a week", "Forecasting demand by region"],
    "design": ["A design system that teams adopt", "Usability tests on a budget", "Icons that read at any size"],
    "engineering": ["Moving a monolith to services", "Faster builds with remote caching", "On-call without burnout"],
    "finance": ["Budgeting for a growing team", "Reading a cash-flow statement", "Pricing a subscription product"],
    "hiring": ["Structured interviews that predict", "Writing a job post people finish", "Onboarding in the first week"],
    "marketing": ["Launch emails that get opened", "A content calendar that lasts", "Measuring brand lift"],
    "sales": ["Discovery calls that qualify", "Closing the quarter calmly", "Territory planning with data"],
    "support": ["Macros that sound human", "Triage queues by urgency", "Turning tickets into roadmap input"],
}
REGIONS = ("north", "south", "east", "west")
INTEREST_MATCH = (1.0, 0.8, 0.6)
"""Interest match of an item in a member's first, second and third interest."""
FLAGGED_SHARE = 0.05


class StarterWorld(PolicyAnnotator):
    """Members and items, and the policy's view of which items fit which member."""

    def member(self, member_id: str) -> dict[str, Any]:
        return {"member_id": member_id, "interests": self.rng.sample(list(CATEGORIES), 3), "region": self.rng.choice(REGIONS)}

    def item(self, item_id: str) -> dict[str, Any]:
        category = self.rng.choice(list(CATEGORIES))
        return {
            "item_id": item_id,
            "category": category,
            "title": self.rng.choice(CATEGORIES[category]),
            "region": self.rng.choice(REGIONS),
            "quality": round(self.rng.random(), 2),
            "flagged": self.rng.random() < FLAGGED_SHARE,
            "popularity": round(self.rng.paretovariate(1.5), 3),
        }

    def dimension_scores(self, member: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, float]:
        interests = member["interests"]
        interest = INTEREST_MATCH[interests.index(item["category"])] if item["category"] in interests else 0.0
        return {"interest_match": interest, "region_match": float(item["region"] == member["region"]), "quality": item["quality"]}

    def engagement(self, member: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
        """Views follow relevance and lean towards popular items, as real logs do; saving takes more."""
        relevance = self.true_score(member, item)
        viewed = self.rng.random() < sigmoid(2.0 * (relevance - 0.4) + 0.8 * math.log(item["popularity"]))
        saved = viewed and self.rng.random() < sigmoid(5.0 * (relevance - 0.6))
        return {"request_id": member["member_id"], "candidate_id": item["item_id"], "viewed": viewed, "saved": saved}


def member_text(member: Mapping[str, Any]) -> str:
    return f"Interested in {', '.join(member['interests'])} | {member['region']} region"


def item_text(item: Mapping[str, Any]) -> str:
    flag = " | flagged" if item["flagged"] else ""
    return f"{item['title']} | {item['category']} | {item['region']} region | quality {item['quality']:.2f}{flag}"


def render(member: Mapping[str, Any], item: Mapping[str, Any]) -> tuple[str, str]:
    """How a pair reads to the models; the plugin's ``stillroom_render_pair`` answers with it, for the policy's precedents too."""
    return member_text(member), item_text(item)


class StarterCatalog(CatalogWorld):
    """The world with its items: members as requests, items as candidates. A slate is half the member's interests, half the rest."""

    world: StarterWorld
    request_key, candidate_key = "member_id", "item_id"
    render = staticmethod(render)

    def __init__(self, world: StarterWorld, size: WorldSize) -> None:
        super().__init__(world, size)
        self.items = [world.item(f"item-{i:05d}") for i in range(size.catalog)]

    def request(self, request_id: str) -> dict[str, Any]:
        return self.world.member(request_id)

    def slate(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        n = self.size.candidates_per_request
        near = [item for item in self.items if item["category"] in request["interests"]]
        chosen = self.world.rng.sample(near, min(len(near), n // 2))
        rest = [item for item in self.items if item not in chosen]
        chosen += self.world.rng.sample(rest, n - len(chosen))
        self.world.rng.shuffle(chosen)
        return chosen


def generate(policy: Policy, size: WorldSize, seed: int) -> DataBundle:
    """The world of ``size`` drawn from ``seed``: golden splits, the unlabeled pool and the engagement log."""
    return generate_bundle(StarterCatalog(StarterWorld(policy, seed), size), size)
