"""A synthetic jobs marketplace, generated from a seed.

Members and job postings are drawn from real job titles and skills
(``vocabulary.yaml``). Golden labels come from applying the jobs policy: each of
its dimensions is scored, combined with the policy's weights, cut into the label
scale, capped by the hard rules, and then blurred by annotator noise, as human
labels are. The engagement log (views, applies) follows relevance but is biased
by each posting's popularity, as real logs are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stillroom.api import CatalogWorld, DataBundle, Policy, PolicyAnnotator, WorldSize, generate_bundle, package_yaml, sigmoid

SENIORITY = ("Intern", "Junior", "Mid-level", "Senior", "Staff")
WORKPLACES = ("onsite", "hybrid", "remote")
DIMENSIONS = ("role_match", "skill_overlap", "seniority_fit", "location_fit")
"""The policy dimensions this world knows how to score."""


def vocabulary() -> dict[str, Any]:
    return package_yaml(__package__)


class JobsWorld(PolicyAnnotator):
    """Members, postings and the policy's view of which postings fit which member."""

    def __init__(self, policy: Policy, seed: int) -> None:
        super().__init__(policy, seed)
        vocab = vocabulary()
        self.families: dict[str, dict[str, Any]] = vocab["families"]
        self.cities: list[dict[str, str]] = vocab["cities"]
        # A few large hubs and a long tail, as on a real marketplace.
        self.city_weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(self.cities))]

    # -- sampling -------------------------------------------------------------

    def _city(self) -> dict[str, str]:
        return self.rng.choices(self.cities, weights=self.city_weights)[0]

    def _skills(self, family: str, own: int, adjacent: int) -> list[str]:
        """Skills of a family, the core ones (listed first) far more often than the niche ones."""
        info = self.families[family]
        skills: list[str] = []
        weights = [1.0 / (rank + 1) for rank in range(len(info["skills"]))]
        while len(skills) < own:
            skill = self.rng.choices(info["skills"], weights=weights)[0]
            if skill not in skills:
                skills.append(skill)
        neighbours = [s for fam in info["adjacent"] for s in self.families[fam]["skills"][:6] if s not in skills]
        skills += self.rng.sample(neighbours, min(adjacent, len(neighbours)))
        return skills

    def _profile(self, own_skills: tuple[int, int]) -> dict[str, Any]:
        """What members and postings share: a family, a title in it, a level, skills and a city."""
        family = self.rng.choice(list(self.families))
        city = self._city()
        return {
            "family": family,
            "title": self.rng.choice(self.families[family]["titles"]),
            "seniority": self.rng.choices(range(len(SENIORITY)), weights=(1, 3, 4, 3, 1))[0],
            "skills": self._skills(family, self.rng.randint(*own_skills), self.rng.randint(0, 1)),
            "city": city["name"],
            "country": city["country"],
        }

    def member(self, member_id: str) -> dict[str, Any]:
        return {
            "member_id": member_id,
            **self._profile(own_skills=(3, 5)),
            "remote_only": self.rng.random() < 0.15,
            "open_to_relocation": self.rng.random() < 0.35,
        }

    def posting(self, job_id: str) -> dict[str, Any]:
        return {
            "job_id": job_id,
            **self._profile(own_skills=(3, 4)),
            "workplace": self.rng.choices(WORKPLACES, weights=(35, 35, 30))[0],
            "popularity": round(self.rng.paretovariate(1.5), 3),
        }

    def _weighted_sample(self, items: list[int], weights: list[float], k: int) -> list[int]:
        """``k`` distinct items, each drawn with probability proportional to its weight (Efraimidis-Spirakis)."""
        keys = [self.rng.random() ** (1.0 / weight) for weight in weights]
        return [item for _, item in sorted(zip(keys, items, strict=True), reverse=True)[:k]]

    def candidates(self, member: dict[str, Any], postings: list[dict[str, Any]], by_family: dict[str, list[int]], n: int) -> list[dict[str, Any]]:
        """A retrieval-like slate: mostly the member's own family, some neighbours, some noise.

        Like a first-stage retriever, it prefers postings the member can reach
        (remote, or in their city) without filtering the others out.
        """
        own = by_family[member["family"]]
        near = [i for fam in self.families[member["family"]]["adjacent"] for i in by_family[fam]]
        chosen: list[int] = []
        for pool, share in ((own, 0.45), (near, 0.25)):
            weights = [3.0 if postings[i]["workplace"] == "remote" or postings[i]["city"] == member["city"] else 1.0 for i in pool]
            chosen += self._weighted_sample(pool, weights, round(n * share))
        others = [i for i in range(len(postings)) if i not in set(chosen)]
        chosen += self.rng.sample(others, n - len(chosen))
        self.rng.shuffle(chosen)
        return [postings[i] for i in chosen]

    # -- the policy applied ------------------------------------------------------

    def dimension_scores(self, member: dict[str, Any], job: dict[str, Any]) -> dict[str, float]:
        if job["title"] == member["title"]:
            role = 1.0
        elif job["family"] == member["family"]:
            role = 0.75
        elif job["family"] in self.families[member["family"]]["adjacent"]:
            role = 0.35
        else:
            role = 0.0
        skills = len(set(member["skills"]) & set(job["skills"])) / len(job["skills"])
        gap = job["seniority"] - member["seniority"]
        seniority = max(0.0, 1 - 0.5 * gap) if gap > 0 else max(0.0, 1 + 0.3 * gap)
        if job["workplace"] == "remote" or job["city"] == member["city"]:
            location = 1.0
        elif member["open_to_relocation"]:
            location = 0.5
        else:
            location = 0.0
        return {"role_match": role, "skill_overlap": skills, "seniority_fit": seniority, "location_fit": location}

    def engagement(self, member: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
        relevance = self.true_score(member, job)
        popularity = math.log(job["popularity"])
        viewed = self.rng.random() < sigmoid(2.0 * (relevance - 0.4) + 0.8 * popularity)
        applied = viewed and self.rng.random() < sigmoid(5.0 * (relevance - 0.6) + 0.6 * popularity)
        return {"request_id": member["member_id"], "candidate_id": job["job_id"], "viewed": viewed, "applied": applied}


def member_text(member: dict[str, Any]) -> str:
    if member["remote_only"]:
        where = "remote only"
    elif member["open_to_relocation"]:
        where = "open to relocation"
    else:
        where = "no relocation"
    return f"{SENIORITY[member['seniority']]} {member['title']} | {', '.join(member['skills'])} | {member['city']} | {where}"


def posting_text(job: dict[str, Any]) -> str:
    return f"{SENIORITY[job['seniority']]} {job['title']} | {', '.join(job['skills'])} | {job['city']} | {job['workplace']}"


def render(member: Mapping[str, Any], job: Mapping[str, Any]) -> tuple[str, str]:
    return member_text(member), posting_text(job)


class JobsMarket(CatalogWorld):
    """The jobs world with its postings: members as requests, postings as candidates (a :class:`SyntheticWorld`)."""

    world: JobsWorld
    request_key, candidate_key = "member_id", "job_id"
    render = staticmethod(render)

    def __init__(self, world: JobsWorld, size: WorldSize) -> None:
        super().__init__(world, size)
        self.postings = [world.posting(f"job-{i:05d}") for i in range(size.catalog)]
        self.by_family: dict[str, list[int]] = {family: [] for family in world.families}
        for index, job in enumerate(self.postings):
            self.by_family[job["family"]].append(index)

    def request(self, request_id: str) -> dict[str, Any]:
        return self.world.member(request_id)

    def slate(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self.world.candidates(dict(request), self.postings, self.by_family, self.size.candidates_per_request)


def generate(policy: Policy, size: WorldSize, seed: int) -> DataBundle:
    """The jobs world of ``size`` drawn from ``seed``: golden splits, pool and engagement log."""
    return generate_bundle(JobsMarket(JobsWorld(policy, seed), size), size)
