"""Synthetic worlds as data sources: requests, the slate a first stage gives each, labels and an engagement log.

A product that generates its own data (``data=synthetic``) describes its
world as a :class:`SyntheticWorld`; :func:`generate_bundle` turns any such world
into golden splits, an unlabeled pool and the engagement log, the same way
for every product. Requests are drawn split by split, so no request is in two
splits, and the world's random draws happen in one fixed order, so one seed
gives one dataset.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Any, Protocol

import yaml

from stillroom import hookimpl
from stillroom.data import GOLDEN_SPLITS, DataBundle, DataSourceSpec, Pair
from stillroom.errors import StillroomError
from stillroom.policy import Policy

SYNTHETIC = "synthetic"
"""The data source name (``data=synthetic``) under which a product offers its generated world."""
POOL = "pool"


@dataclass(frozen=True)
class WorldSize:
    """How much of a world to draw: requests per split, the slate each gets, the catalog it comes from, the annotators' noise."""

    train_requests: int
    """Requests (members, queries) in golden train: the pairs the first labeler learns the policy from."""
    dev_requests: int
    """Requests in golden dev: early stopping, the gate and a sweep's objective read them."""
    test_requests: int
    """Requests in golden test: every figure of the report, so its intervals narrow with more."""
    pool_requests: int
    """Unlabeled requests: the pool the teacher labels for the student to learn from."""
    candidates_per_request: int
    """The slate each request gets, the candidates a first stage would return."""
    catalog: int
    """Candidates in the world (job postings, posts, profiles), that slates are drawn from."""
    annotator_noise: float
    """The chance an annotator's label is one grade off the policy's."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WorldSize:
        missing = [f.name for f in fields(cls) if f.name not in config]
        if missing:
            raise StillroomError(f"the synthetic world needs {', '.join(missing)}", where="config data")
        return cls(**{f.name: config[f.name] for f in fields(cls)})

    def requests(self) -> dict[str, int]:
        return {"train": self.train_requests, "dev": self.dev_requests, "test": self.test_requests, POOL: self.pool_requests}


class PolicyAnnotator:
    """A world's annotator, the same for every product: the world scores the policy's dimensions
    (:meth:`dimension_scores`); the annotator weighs them as the policy says, cuts the weighted score
    into the label scale (:attr:`label_cuts`), caps it by the hard rules, and slips by one grade with
    the annotators' noise, as human labels do.

    A product subclass defines :meth:`dimension_scores` and :meth:`engagement`, may set its own
    :attr:`label_cuts`, and draws with :attr:`rng` (seeded, so one seed gives one world). A worked example:
    :class:`SyntheticProduct`.
    """

    label_cuts: tuple[float, ...] = (0.35, 0.5, 0.7)
    """Weighted-dimension score at which a pair reaches label 1, 2 and 3 (a subclass may set its own, one cut per
    label above 0)."""

    def __init__(self, policy: Policy, seed: int) -> None:
        self.policy = policy
        self.rng = random.Random(seed)

    def dimension_scores(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, float]:
        """Each policy dimension's score for the pair, in [0, 1]."""
        raise NotImplementedError

    def true_score(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> float:
        weights = self.policy.dimension_weights()
        scores = self.dimension_scores(request, candidate)
        return sum(weights[name] * scores[name] for name in weights) / sum(weights.values())

    def policy_label(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> int:
        """The label a careful annotator following the policy would give."""
        label = sum(self.true_score(request, candidate) >= cut for cut in self.label_cuts)
        return self.policy.cap(label, request, candidate)

    def annotate(self, request: Mapping[str, Any], candidate: Mapping[str, Any], noise: float) -> int:
        """The policy label, off by one grade with probability ``noise``. A slip can cross a hard rule's cap, as a
        careless annotator's label can: golden labels then break the rules at about the noise rate (the compliance
        check's floor and ``labeling.enforce_rules`` are what keep a model from learning them)."""
        label = self.policy_label(request, candidate)
        if self.rng.random() < noise:
            label = min(self.policy.max_label, max(0, label + self.rng.choice((-1, 1))))
        return label

    def engagement(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, Any]:
        """The pair's row of the engagement log: ``request_id``, ``candidate_id`` and the product's events."""
        raise NotImplementedError


@cache
def package_yaml(package: str, name: str = "vocabulary.yaml") -> Any:
    """A YAML file a product's package ships beside its world (its vocabulary), read once per process."""
    return yaml.safe_load(resources.files(package).joinpath(name).read_text(encoding="utf-8"))


def rule_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a policy's rules and precedents read: all of a generated record but its ids."""
    return {k: v for k, v in record.items() if not k.endswith("_id")}


def sigmoid(x: float) -> float:
    """The logistic function, for engagement that rises smoothly with relevance."""
    return 1.0 / (1.0 + math.exp(-x))


class SyntheticWorld(Protocol):
    """What a product's generated world provides."""

    def request(self, request_id: str) -> dict[str, Any]:
        """A new request (a member, a query) with this id."""

    def slate(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The candidates a first-stage retriever would give the request."""

    def annotate(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> int:
        """The label an annotator following the policy gives the pair, with an annotator's noise."""

    def engagement(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, Any]:
        """The pair's row of the engagement log: ``request_id``, ``candidate_id`` and the product's events."""

    def pair(self, request: Mapping[str, Any], candidate: Mapping[str, Any], label: int | None) -> Pair:
        """The pair as the models and the policy's rules read it."""


class CatalogWorld:
    """What every product's :class:`SyntheticWorld` does alike, over its :class:`PolicyAnnotator`: labels
    with the annotators' noise, engagement rows, and pairs that read as the product renders them.

    A product subclass defines ``request(request_id)`` (a new request's fields, its id among them) and
    ``slate(request)`` (the candidates' fields), names the id field of each side (:attr:`request_key`,
    :attr:`candidate_key`) and sets :meth:`render`; ``generate_bundle(world, size)`` then draws every split.
    ``CatalogWorld(annotator, size)`` keeps the annotator as ``world`` (draw with its ``rng``, for one seed, one
    world). A worked example: :class:`SyntheticProduct`.
    """

    request_key: str
    """The request field that holds its id (``learner_id``): it becomes the pairs' ``request_id``."""
    candidate_key: str
    """The candidate field that holds its id (``course_id``): it becomes the pairs' ``candidate_id``."""

    def __init__(self, world: PolicyAnnotator, size: WorldSize) -> None:
        self.world = world
        self.size = size

    @staticmethod
    def render(request: Mapping[str, Any], candidate: Mapping[str, Any]) -> tuple[str, str]:
        """The request's and the candidate's text, as the models read them."""
        raise NotImplementedError

    def annotate(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> int:
        return self.world.annotate(request, candidate, self.size.annotator_noise)

    def engagement(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, Any]:
        return self.world.engagement(request, candidate)

    def pair(self, request: Mapping[str, Any], candidate: Mapping[str, Any], label: int | None) -> Pair:
        request_id, candidate_id = request[self.request_key], candidate[self.candidate_key]
        request_text, candidate_text = self.render(request, candidate)
        return Pair(
            pair_id=f"{request_id}:{candidate_id}",
            request_id=request_id,
            candidate_id=candidate_id,
            request_text=request_text,
            candidate_text=candidate_text,
            request=rule_fields(request),
            candidate=rule_fields(candidate),
            label=label,
        )


def require_dimensions(policy: Policy, dimensions: Sequence[str], product: str) -> None:
    """A world scores the policy's dimensions itself, so the two must name the same ones: a dimension the policy
    weighs and the world does not score has no score to weigh, and one the world scores that the policy lacks would
    be ignored without a word."""
    weighed, scored = set(policy.dimension_weights()), set(dimensions)
    if weighed != scored:
        unscored = f"; the world does not score {sorted(weighed - scored)}" if weighed - scored else ""
        lacking = f"; the policy lacks {sorted(scored - weighed)}" if scored - weighed else ""
        raise StillroomError(f"the {product} world scores the dimensions {list(dimensions)}{lacking}{unscored}", where=policy.source)


class SyntheticProduct:
    """A product whose data is its own generated world, as a plugin: its ``data=synthetic`` source and how its pairs read.

    ``SyntheticProduct(product, dimensions, generate, render)``: ``dimensions`` are the policy dimensions the world
    scores (the policy must weigh exactly these, checked when the world is read); ``generate(policy, size, seed)``
    returns the :class:`~stillroom.data.DataBundle` for a :class:`WorldSize` (``generate_bundle`` over a
    :class:`CatalogWorld` does the drawing); ``render(request, candidate)`` gives the two texts, for the data and
    for the policy's precedents alike. A product package registers one instance through its entry point
    (``plugin = SyntheticProduct(...)``); to implement more hooks in the same plugin (its config search path, a
    loss, an evaluator), subclass it and add ``@hookimpl`` methods.

    Example::

        >>> from stillroom.api import (CatalogWorld, Dimension, Label, Policy, PolicyAnnotator, SyntheticProduct,
        ...                            generate_bundle)
        >>> TOPICS = ["python", "statistics", "design", "marketing"]
        >>> class Learners(PolicyAnnotator):  # scores the policy's dimensions; labels follow from them
        ...     def dimension_scores(self, learner, course):
        ...         return {"topic_match": float(course["topic"] in learner["topics"])}
        ...     def engagement(self, learner, course):
        ...         return {"request_id": learner["learner_id"], "candidate_id": course["course_id"],
        ...                 "viewed": self.rng.random() < 0.5}
        >>> class Courses(CatalogWorld):  # draws requests and their slates
        ...     request_key, candidate_key = "learner_id", "course_id"
        ...     render = staticmethod(lambda learner, course: (", ".join(learner["topics"]), course["topic"]))
        ...     def request(self, request_id):
        ...         return {"learner_id": request_id, "topics": self.world.rng.sample(TOPICS, 2)}
        ...     def slate(self, learner):
        ...         return [{"course_id": f"c{i}", "topic": topic} for i, topic in enumerate(TOPICS)]
        >>> def generate(policy, size, seed):
        ...     return generate_bundle(Courses(Learners(policy, seed), size), size)
        >>> plugin = SyntheticProduct("courses", ["topic_match"], generate, Courses.render)
        >>> policy = Policy(product="courses", version="1", sha256="0" * 64, source="policy.md", body="", rules=(),
        ...                 precedents=(), dimensions=(Dimension("topic_match", 1.0, "The course's topic is wanted."),),
        ...                 labels=tuple(Label(i, f"grade_{i}", "") for i in range(4)))
        >>> sizes = {"train_requests": 2, "dev_requests": 1, "test_requests": 1, "pool_requests": 2,
        ...          "candidates_per_request": 4, "catalog": 4, "annotator_noise": 0.0}
        >>> bundle = plugin.read("courses", sizes, policy, seed=0)
        >>> {split: len(pairs) for split, pairs in bundle.splits().items()}, len(bundle.engagement)
        ({'train': 8, 'dev': 4, 'test': 4, 'pool': 8}, 24)
        >>> sorted({pair.label for pair in bundle.golden["train"]})  # topic match: grade 3, else grade 0
        [0, 3]
    """

    def __init__(
        self,
        product: str,
        dimensions: Sequence[str],
        generate: Callable[[Policy, WorldSize, int], DataBundle],
        render: Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[str, str]],
    ) -> None:
        self.product = product
        self.dimensions = tuple(dimensions)
        self.generate = generate
        self.render = render

    def read(self, product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> DataBundle:
        require_dimensions(policy, self.dimensions, self.product)
        return self.generate(policy, WorldSize.from_config(data_config), int(data_config.get("seed", seed)))

    @hookimpl
    def stillroom_data_sources(self) -> list[DataSourceSpec]:
        return [DataSourceSpec(SYNTHETIC, self.read, products=(self.product,), description=f"the {self.product} product's synthetic world")]

    @hookimpl
    def stillroom_render_pair(self, product: str, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> tuple[str, str] | None:
        return self.render(request, candidate) if product == self.product else None


def generate_bundle(world: SyntheticWorld, size: WorldSize) -> DataBundle:
    """Golden train, dev and test, the pool and the engagement log: ``size``'s requests per split, each with its slate.

    Every pair shown gets an engagement row, the pool's too: the log covers what was served, not only what was labeled.
    """
    engagement: list[dict[str, Any]] = []
    splits: dict[str, list[Pair]] = {}
    for split in (*GOLDEN_SPLITS, POOL):
        labeled = split != POOL
        pairs = splits[split] = []
        for index in range(size.requests()[split]):
            request = world.request(f"{split}-{index:05d}")
            for candidate in world.slate(request):
                pairs.append(world.pair(request, candidate, world.annotate(request, candidate) if labeled else None))
                engagement.append(world.engagement(request, candidate))
    return DataBundle(golden={split: splits[split] for split in GOLDEN_SPLITS}, pool=splits[POOL], engagement=engagement)
