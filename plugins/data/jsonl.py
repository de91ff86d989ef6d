"""``data=jsonl data.path=FILE``: one (request, candidate) pair per line, labeled or not, for any product's policy.

Each line is a JSON object:

- ``request_id``, ``candidate_id``: strings (a number is read as its string); a pair appears once.
- ``request_text``, ``candidate_text``: what the models read; not empty.
- ``label`` (optional): an integer on the policy's label scale. Labeled pairs are the golden set.
- ``split`` (optional): ``train``, ``dev``, ``test`` (labeled) or ``pool`` (unlabeled). Without it, a
  labeled pair goes to a golden split chosen per request (``data.dev_share``, ``data.test_share``),
  an unlabeled one to the pool the teacher labels.
- ``request``, ``candidate`` (optional): objects of the fields the policy's rules read; a rule reading a
  field the file does not have is reported as not applicable to this data.
- ``engagement`` (optional): an object of the product's engagement events, as booleans (``{"viewed": true}``).
- ``first_stage_score`` (optional): a number, the score the retrieval in front of the reranker gave the
  candidate for its request; a model that reads it (``features: [first_stage_score]``) gets it normalised
  within the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stillroom import hookimpl
from stillroom.data import GOLDEN_SPLITS, DataBundle, DataSourceSpec, Pair
from stillroom.plugins.data.splits import assign_splits
from stillroom.policy import Policy
from stillroom.reading import data_error, field, jsonl_objects

NAME = "jsonl"
POOL = "pool"


def _pair(row: Mapping[str, Any], path: Path, line: int, policy: Policy) -> tuple[Pair, str | None]:
    """The line's pair and the split it names (``None``: the source chooses)."""
    ids = {name: str(field(row, name, (str, int), path, line)) for name in ("request_id", "candidate_id")}
    texts = {name: field(row, name, str, path, line) for name in ("request_text", "candidate_text")}
    label = field(row, "label", int, path, line, required=False)
    if label is not None and not 0 <= label <= policy.max_label:
        raise data_error(path, line, f"label {label} is off the policy's scale (0 to {policy.max_label})")
    split = field(row, "split", str, path, line, required=False)
    if split is not None and split not in (*GOLDEN_SPLITS, POOL):
        raise data_error(path, line, f"split must be one of {', '.join((*GOLDEN_SPLITS, POOL))}, got {split!r}")
    if split == POOL and label is not None:
        raise data_error(path, line, "a pool pair carries no label (the teacher labels the pool)")
    if split in GOLDEN_SPLITS and label is None:
        raise data_error(path, line, f"a {split} pair needs a label")
    fields = {side: field(row, side, dict, path, line, required=False) or {} for side in ("request", "candidate")}
    first_stage_score = field(row, "first_stage_score", (int, float), path, line, required=False)
    pair = Pair(
        pair_id=f"{ids['request_id']}:{ids['candidate_id']}",
        **ids,
        **texts,
        request=fields["request"],
        candidate=fields["candidate"],
        label=label,
        first_stage_score=None if first_stage_score is None else float(first_stage_score),
    )
    return pair, split


def _engagement(row: Mapping[str, Any], pair: Pair, path: Path, line: int) -> dict[str, Any] | None:
    events = field(row, "engagement", dict, path, line, required=False)
    if events is None:
        return None
    for name, happened in events.items():
        if not isinstance(happened, bool):
            raise data_error(path, line, f"engagement event {name!r} must be true or false, got {happened!r}")
    return {"request_id": pair.request_id, "candidate_id": pair.candidate_id, **events}


def read_jsonl_pairs(path: Path, policy: Policy, shares: Mapping[str, float], seed: int) -> DataBundle:
    """Every line of ``path`` as a pair, sorted into golden splits and pool (see the module doc)."""
    seen: dict[tuple[str, str], int] = {}
    named: list[tuple[Pair, str | None]] = []
    engagement: list[dict[str, Any]] = []
    for line, row in jsonl_objects(path):
        pair, split = _pair(row, path, line, policy)
        key = (pair.request_id, pair.candidate_id)
        if key in seen:
            raise data_error(path, line, f"pair {pair.pair_id!r} appears twice (first on line {seen[key]})")
        seen[key] = line
        named.append((pair, split))
        events = _engagement(row, pair, path, line)
        if events is not None:
            engagement.append(events)
    unassigned = {p.request_id for p, split in named if split is None and p.label is not None}
    chosen = assign_splits(unassigned, {"train": 1 - sum(shares.values()), **shares}, seed)
    splits: dict[str, list[Pair]] = {name: [] for name in (*GOLDEN_SPLITS, POOL)}
    for pair, split in named:
        splits[split or (POOL if pair.label is None else chosen[pair.request_id])].append(pair)
    return DataBundle(golden={name: splits[name] for name in GOLDEN_SPLITS}, pool=splits[POOL], engagement=engagement)


def read(product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> DataBundle:
    shares = {"dev": float(data_config.get("dev_share", 0.15)), "test": float(data_config.get("test_share", 0.25))}
    return read_jsonl_pairs(Path(str(data_config["path"])).expanduser(), policy, shares, int(data_config.get("seed", seed)))


@hookimpl
def stillroom_data_sources() -> list[DataSourceSpec]:
    return [
        DataSourceSpec(NAME, read, description="a JSON-lines file of labeled pairs (request and candidate fields, a label on the policy's scale)")
    ]
