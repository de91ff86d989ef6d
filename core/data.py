"""The records every data source produces and every stage reads.

A :class:`Pair` is one (request, candidate) pair: the text the models read and
the structured fields the policy's rules read. A :class:`DataBundle` is what a
data source provides: the golden splits, the unlabeled pool and the
engagement log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomError, did_you_mean
from stillroom.plugin_boundary import Contributed, ContributeHook, FirstAnswerHook, instance_of

if TYPE_CHECKING:
    from stillroom.plugin_manager import Plugins
    from stillroom.policy import Policy

GOLDEN_SPLITS = ("train", "dev", "test")
POOL_SPLIT = "pool"


@dataclass(frozen=True)
class Pair:
    """One (request, candidate) pair; ``label`` is ``None`` in the unlabeled pool.

    Models read the texts; the policy's hard rules read the fields. A data source builds one per candidate of each
    request and puts it in a :class:`DataBundle`.

    Example::

        >>> from stillroom.api import Pair
        >>> pair = Pair("r1-c7", "r1", "c7", "Data Engineer, Berlin, SQL and Spark", "Data Engineer (hybrid, Berlin)",
        ...             request={"city": "Berlin"}, candidate={"city": "Berlin", "workplace": "hybrid"}, label=3)
        >>> unlabeled = Pair("r9-c2", "r9", "c2", "Accountant, Toronto", "Accountant (onsite, Toronto)")
        >>> pair.to_row()["candidate"], unlabeled.label, Pair.from_row(pair.to_row()) == pair
        ({'city': 'Berlin', 'workplace': 'hybrid'}, None, True)
    """

    pair_id: str
    """The pair's id, unique across every split of the bundle (train, dev, test, pool); artifacts key pairs by it."""
    request_id: str
    """The request (member, query) it belongs to: metrics rank a request's candidates against each other, and
    ranking loss terms compare them."""
    candidate_id: str
    """The candidate (job posting, document); an engagement row names the pair by ``request_id`` and this."""
    request_text: str
    """The request as the models read it; the product's ``stillroom_render_pair`` renders precedents the same way."""
    candidate_text: str
    """The candidate as the models read it."""
    request: Mapping[str, Any] = field(default_factory=dict)
    """The request's fields that the policy's rules read (``request.city``); a rule reading a field the data lacks
    does not apply to it."""
    candidate: Mapping[str, Any] = field(default_factory=dict)
    """The candidate's fields that the policy's rules read (``candidate.workplace``)."""
    label: int | None = None
    """The golden label on the policy's scale (0 to ``policy.max_label``); ``None`` in the unlabeled pool."""
    first_stage_score: float | None = None
    """The score the first stage gave this candidate for its request (BM25's, with ``data=beir``), which production
    hands a reranker for free; ``None`` where no first stage chose the candidates. A model that lists
    ``first_stage_score`` among its ``features`` reads it normalised within its request (:mod:`stillroom.features`)."""
    features: Mapping[str, float] = field(default_factory=dict)
    """The product's declared features of the pair (``product.features``: facts its fields give, such as whether the
    candidate's author is one of the request's connections), by name, as :mod:`stillroom.field_features` computes them
    when the data is prepared; a model reads those its ``features`` list names."""

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["request"] = dict(self.request)
        row["candidate"] = dict(self.candidate)
        row["features"] = dict(self.features)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Pair:
        return cls(**row)


@dataclass(frozen=True)
class FirstStage:
    """The retrieval step in front of the reranker: its top ``k`` are a test request's only candidates.

    ``recall`` is the share of the test requests' relevant items (by their judgments) in that top ``k``,
    averaged over requests: the ceiling of every reranker's recall, which a report must show beside its
    NDCG, since a relevant item the first stage missed is one no reranker can bring back.

    Example::

        >>> from stillroom.api import FirstStage
        >>> FirstStage("bm25", k=100, recall=0.83).to_json()
        {'name': 'bm25', 'k': 100, 'recall@k': 0.83}
    """

    name: str
    """The retrieval's name (``bm25``), as the report shows it."""
    k: int
    """How many candidates it returns per request: each dev and test request's candidates are its top ``k``."""
    recall: float
    """Its recall@k on test (see above), in [0, 1]: the report shows it as every reranker's ceiling."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k, "recall@k": self.recall}


@dataclass(frozen=True)
class DataBundle:
    """Golden train/dev/test (labeled under the policy), unlabeled pool, engagement log.

    An engagement row names its pair by ``request_id`` and ``candidate_id`` and
    says which of the product's engagement events happened (``viewed``,
    ``applied``...: the names ``product.engagement_events`` lists, as booleans).

    Example::

        >>> from stillroom.api import DataBundle, Pair
        >>> def pair(i, label=None):
        ...     return Pair(f"p{i}", f"r{i // 2}", f"c{i}", "Data Engineer, Berlin", f"posting {i}", label=label)
        >>> bundle = DataBundle(
        ...     golden={"train": [pair(0, 3), pair(1, 0)], "dev": [], "test": [pair(2, 2), pair(3, 1)]},
        ...     pool=[pair(4), pair(5)],
        ...     engagement=[{"request_id": "r0", "candidate_id": "c0", "viewed": True, "applied": False}],
        ... )
        >>> {split: len(pairs) for split, pairs in bundle.splits().items()}
        {'train': 2, 'dev': 0, 'test': 2, 'pool': 2}
    """

    golden: Mapping[str, list[Pair]]
    """The labeled pairs by split: ``train`` (the first labeler learns from it), ``dev`` (early stopping, the gate;
    may be empty) and ``test`` (every figure of the report). Train and test must not be empty."""
    pool: list[Pair]
    """The unlabeled pairs (``label`` ``None``; not empty): the teachers label them, the student learns from that."""
    engagement: list[dict[str, Any]] = field(default_factory=list)
    """The engagement log, one row per logged pair: an engagement teacher (``engagement_teacher=...``) learns its
    grades from the rows of golden pairs. Empty when the product logs none."""
    first_stage: FirstStage | None = None
    """The retrieval that chose each request's candidates, when one did: the report shows its recall."""
    notes: tuple[str, ...] = ()
    """What the source did to make the splits that a reader of the figures must know, a sentence each (test
    queries lent to golden train, a pool drawn from train queries): report.md lists them beside the test size."""

    def splits(self) -> dict[str, list[Pair]]:
        """Every pair list by name: ``train``, ``dev``, ``test`` and ``pool``."""
        return {**{name: list(self.golden[name]) for name in GOLDEN_SPLITS}, POOL_SPLIT: list(self.pool)}


@dataclass(frozen=True)
class DataSourceSpec:
    """A data source a plugin contributes (``stillroom_data_sources``): ``data.name`` names it.

    ``read(product, data_config, policy, seed)`` returns the :class:`DataBundle`; ``data_config`` is the ``data``
    group as plain Python objects. ``products`` lists the products it serves (a product's synthetic world);
    empty, it serves every product (a reader of files any product may have). It must honour the sizes its config
    gives (``experiment=smoke`` shrinks a run through them).

    Example::

        >>> from stillroom.api import DataBundle, DataSourceSpec, Pair
        >>> def read(product, data_config, policy, seed):
        ...     n = data_config.get("test_requests", 2)
        ...     test = [Pair(f"t{i}", f"r{i}", "c1", "request", "candidate", label=i % 2) for i in range(n)]
        ...     train = [Pair("a", "r9", "c1", "request", "candidate", label=1)]
        ...     return DataBundle({"train": train, "dev": [], "test": test}, pool=[Pair("u", "r8", "c1", "q", "d")])
        >>> source = DataSourceSpec("tiny", read, products=("courses",), description="a handful of made-up pairs")
        >>> bundle = source.read("courses", {"name": "tiny", "test_requests": 3}, None, 0)
        >>> {split: len(pairs) for split, pairs in bundle.splits().items()}, source.serves("widgets")
        ({'train': 1, 'dev': 0, 'test': 3, 'pool': 1}, False)
    """

    name: str
    """What ``data.name`` selects (``synthetic``, ``jsonl``, ``beir``); a later plugin's source of the same name
    replaces an earlier one for the products both serve."""
    read: Callable[[str, Mapping[str, Any], Policy, int], DataBundle]
    """``read(product, data_config, policy, seed)`` returns the bundle; the engine checks it (labels on the policy's
    scale, unique pair ids, no empty train, test or pool) before any stage uses it."""
    products: tuple[str, ...] = ()
    """The products it serves (``("courses",)``: a product's own world); empty, it serves every product."""
    description: str = ""
    """What it reads, in a line for people reading the plugin; the engine does not use it."""

    def serves(self, product: str) -> bool:
        return not self.products or product in self.products


def read_data_source(plugins: Plugins, product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> DataBundle:
    """The bundle of the source ``data_config["name"]`` that serves ``product``, from the plugin registered last
    (pluggy asks it first), checked against :func:`bundle_problem`. No such source is an error that lists the
    product's sources; a source that raises or returns a bad bundle stops the run naming its plugin."""
    name = data_config.get("name")
    serving = [source for source in DATA_SOURCES(plugins) if source.item.serves(product)]
    found = next((source for source in serving if source.item.name == name), None)
    if found is None and (legacy := _legacy_source(plugins, product, data_config, policy, seed)) is not None:
        found = legacy
    if found is None:
        names = sorted({source.item.name for source in serving})
        known = ", ".join(names) or "none"
        raise StillroomError(
            f"no plugin provides data source {name!r} for product {product!r}{did_you_mean(name, names)}; its data sources: {known} "
            "(`stillroom plugins` lists them)",
            where="data.name",
        )
    return found.run(
        f"data source {name!r}", found.item.read, product, data_config, policy, seed, expect=lambda bundle: bundle_problem(bundle, policy)
    )


def bundle_problem(bundle: object, policy: Policy) -> str | None:
    """What makes ``bundle`` no :class:`DataBundle` a run can use, in one line; ``None`` when it is one.

    Golden pairs carry a label on the policy's scale, pool pairs none; every pair id is unique across the splits;
    train, test and the pool are not empty (dev may be: nothing is then chosen on it).
    """
    if not isinstance(bundle, DataBundle):
        return f"returned {type(bundle).__name__}, expected a DataBundle"
    if not isinstance(bundle.golden, Mapping):
        return f"returned golden as {type(bundle.golden).__name__}, expected a mapping of split name to pairs"
    missing = [split for split in GOLDEN_SPLITS if split not in bundle.golden]
    if missing:
        return f"returned golden splits {sorted(bundle.golden)}, expected {', '.join(GOLDEN_SPLITS)}"
    scale = range(policy.num_labels)
    seen: dict[str, str] = {}
    for split, pairs in bundle.splits().items():
        for index, pair in enumerate(pairs):
            at = f"{split}[{index}]"
            if not isinstance(pair, Pair):
                return f"{at} is {type(pair).__name__}, expected a Pair"
            if not isinstance(pair.request_text, str) or not isinstance(pair.candidate_text, str):
                return f"{at} (pair {pair.pair_id!r}) has texts that are not strings"
            score = pair.first_stage_score
            if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
                return f"{at} (pair {pair.pair_id!r}) has first_stage_score {pair.first_stage_score!r}, expected a number or None"
            if not isinstance(pair.features, Mapping) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in pair.features.values()
            ):
                return f"{at} (pair {pair.pair_id!r}) has features {pair.features!r:.60}, expected a mapping of name to number"
            if split == POOL_SPLIT and pair.label is not None:
                return f"{at} (pair {pair.pair_id!r}) is in the pool with label {pair.label!r}; pool pairs carry none"
            if split != POOL_SPLIT and (isinstance(pair.label, bool) or pair.label not in scale):
                return f"{at} (pair {pair.pair_id!r}) has label {pair.label!r}, off the policy's scale 0 to {policy.max_label}"
            if pair.pair_id in seen:
                return f"pair id {pair.pair_id!r} is in {seen[pair.pair_id]} and {at}; pair ids must be unique"
            seen[pair.pair_id] = at
    if not all(isinstance(note, str) for note in bundle.notes):
        return "returned notes that are not strings; each note is a sentence for the report"
    if not all(isinstance(row, Mapping) for row in bundle.engagement):
        return "returned an engagement log whose rows are not mappings of request_id, candidate_id and events"
    empty = [split for split, pairs in bundle.splits().items() if not pairs and split != "dev"]
    return f"returned no {' and no '.join(empty)} pairs" if empty else None


def fingerprint_rows(rows: Iterable[Mapping[str, Any]]) -> str:
    """A stable sha256 over rows, for the manifest's data fingerprint."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()


DATA_SOURCES: ContributeHook[DataSourceSpec] = ContributeHook(
    "stillroom_data_sources", instance_of(DataSourceSpec, "a DataSourceSpec"), "a list of DataSourceSpec"
)


LEGACY_DATA_SOURCE: FirstAnswerHook[DataBundle] = FirstAnswerHook("stillroom_data_source", instance_of(DataBundle, "a DataBundle"))
"""The hook ``stillroom_data_sources`` replaced (0.2.0), still asked until 0.3.0 (pluggy warns as such a plugin registers)."""


def _legacy_source(plugins: Plugins, product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> Contributed[DataSourceSpec] | None:
    """The source of a plugin of the previous API (``stillroom_data_source``) that answers for ``data.name``, as a
    contributed spec whose ``read`` gives the bundle it answered with; ``None`` when none answers."""
    label = f"data source {data_config.get('name')!r}"
    answered = LEGACY_DATA_SOURCE(plugins, label=label, product=product, data_config=data_config, policy=policy, seed=seed)
    if answered is None:
        return None
    spec = DataSourceSpec(str(data_config.get("name")), lambda *_: answered.item, description="the deprecated stillroom_data_source hook")
    return Contributed(spec, answered.plugin, answered.hook)


def data_source_names(plugins: Plugins) -> list[str]:
    """Every data source the plugins contribute, with the products it serves, as ``stillroom plugins`` lists them."""
    return sorted({f"{source.item.name} ({', '.join(source.item.products) or 'any product'})" for source in DATA_SOURCES(plugins)})
