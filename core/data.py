"""The records every data source produces and every stage reads.

A :class:`Pair` is one (request, candidate) pair: the text the models read and
the structured fields the policy's rules read. A :class:`DataBundle` is what a
data source provides: the golden splits, the unlabeled pool and the
engagement log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomError, did_you_mean
from stillroom.plugin_boundary import PluginBroke, plugin_call

if TYPE_CHECKING:
    from stillroom.policy import Policy

GOLDEN_SPLITS = ("train", "dev", "test")
POOL_SPLIT = "pool"


@dataclass(frozen=True)
class Pair:
    """One (request, candidate) pair; ``label`` is ``None`` in the unlabeled pool."""

    pair_id: str
    request_id: str
    candidate_id: str
    request_text: str
    candidate_text: str
    request: Mapping[str, Any] = field(default_factory=dict)
    candidate: Mapping[str, Any] = field(default_factory=dict)
    label: int | None = None

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["request"] = dict(self.request)
        row["candidate"] = dict(self.candidate)
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
    """

    name: str
    k: int
    recall: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k, "recall@k": self.recall}


@dataclass(frozen=True)
class DataBundle:
    """Golden train/dev/test (labeled under the policy), unlabeled pool, engagement log.

    An engagement row names its pair by ``request_id`` and ``candidate_id`` and
    says which of the product's engagement events happened (``viewed``,
    ``applied``...: the names ``product.engagement_events`` lists, as booleans).
    """

    golden: Mapping[str, list[Pair]]
    pool: list[Pair]
    engagement: list[dict[str, Any]] = field(default_factory=list)
    first_stage: FirstStage | None = None
    """The retrieval that chose each request's candidates, when one did: the report shows its recall."""

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
    """

    name: str
    read: Callable[[str, Mapping[str, Any], Policy, int], DataBundle]
    products: tuple[str, ...] = ()
    description: str = ""

    def serves(self, product: str) -> bool:
        return not self.products or product in self.products


def read_data_source(
    contributed: Sequence[tuple[str, Sequence[DataSourceSpec]]], product: str, data_config: Mapping[str, Any], policy: Policy, seed: int
) -> DataBundle:
    """The bundle of the source ``data_config["name"]`` that serves ``product``, from the plugin registered last
    (pluggy asks it first), checked against :func:`bundle_problem`. ``contributed`` is each plugin's name with its
    sources (:func:`stillroom.plugin_boundary.contributions`). No such source is an error that lists the product's
    sources; a source that raises or returns a bad bundle stops the run naming its plugin."""
    name = data_config.get("name")
    serving = [(plugin, spec) for plugin, specs in contributed for spec in specs if spec.serves(product)]
    found = next(((plugin, spec) for plugin, spec in serving if spec.name == name), None)
    if found is None:
        names = sorted({spec.name for _, spec in serving})
        known = ", ".join(names) or "none"
        raise StillroomError(
            f"no plugin provides data source {name!r} for product {product!r}{did_you_mean(name, names)}; its data sources: {known} "
            "(`stillroom plugins` lists them)",
            where="data.name",
        )
    plugin, source = found
    hook = f"stillroom_data_sources: data source {source.name!r}"
    with plugin_call(plugin, hook):
        bundle = source.read(product, data_config, policy, seed)
    if problem := bundle_problem(bundle, policy):
        raise PluginBroke(problem, plugin, hook)
    return bundle


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
            if split == POOL_SPLIT and pair.label is not None:
                return f"{at} (pair {pair.pair_id!r}) is in the pool with label {pair.label!r}; pool pairs carry none"
            if split != POOL_SPLIT and (isinstance(pair.label, bool) or pair.label not in scale):
                return f"{at} (pair {pair.pair_id!r}) has label {pair.label!r}, off the policy's scale 0 to {policy.max_label}"
            if pair.pair_id in seen:
                return f"pair id {pair.pair_id!r} is in {seen[pair.pair_id]} and {at}; pair ids must be unique"
            seen[pair.pair_id] = at
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
