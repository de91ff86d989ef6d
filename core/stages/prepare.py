"""prepare: ask the product's data source for the golden set, the pool and the engagement log.

Each pair leaves here with what production would hand a ranker beside it: the product's declared features
(``product.features``) and, where the data has no first stage, the score of the one the product names
(``product.first_stage_scorer``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from stillroom.baselines import Scorer
from stillroom.data import Pair, fingerprint_rows, read_data_source
from stillroom.field_features import declared_features, with_field_features
from stillroom.stages.context import BUILDS_MODELS, RunContext
from stillroom.stages.contracts import Artifact, Stage, data_split

NAME = "prepare"
SPLIT_FILES = {split: Artifact(data_split(split), f"{split}.jsonl") for split in ("train", "dev", "test", "pool")}
ENGAGEMENT_LOG = Artifact("data.engagement_log", "engagement.jsonl")
"""What members did with the pairs (may be empty): the engagement teacher learns from it."""
FIRST_STAGE = Artifact("data.first_stage", "first_stage.json", optional=True)
"""Written when the data source had a retrieval first stage: its name, k and recall@k on test."""
NOTES = Artifact("data.notes", "notes.json", optional=True)
"""Written when the data source said how it made the splits (:attr:`~stillroom.data.DataBundle.notes`): a list of sentences."""


def declare(config: Mapping[str, Any]) -> list[Stage]:
    # A first-stage scorer is a baseline, built for the run's teacher as every baseline is.
    scorer = config["product"]["first_stage_scorer"] if "product" in config else None
    reads = ("seed", "product", "data", *((*BUILDS_MODELS, "teacher") if scorer else ()))
    return [Stage(NAME, run, reads, writes=(*SPLIT_FILES.values(), ENGAGEMENT_LOG, FIRST_STAGE, NOTES))]


def with_first_stage_scores(pairs: list[Pair], scorer: Scorer) -> list[Pair]:
    """``pairs``, those of every request whose data gave no first-stage score scored by ``scorer`` (over the split's
    candidates); a request that has one keeps it, and its candidates without one stay unscored (judged documents the
    first stage missed)."""
    scored = {pair.request_id for pair in pairs if pair.first_stage_score is not None}
    missing = [i for i, pair in enumerate(pairs) if pair.request_id not in scored]
    if not missing:
        return pairs
    scores = scorer.score([pairs[i].request_text for i in missing], [pairs[i].candidate_text for i in missing]).tolist()
    filled = list(pairs)
    for i, score in zip(missing, scores, strict=True):
        filled[i] = dataclasses.replace(pairs[i], first_stage_score=float(score))
    return filled


def run(ctx: RunContext) -> dict[str, Any]:
    product = ctx.config["product"]["name"]
    data_config = ctx.config["data"]
    bundle = read_data_source(ctx.plugins, product, data_config, ctx.policy, ctx.seed)
    features = declared_features(ctx.config["product"]["features"])
    scorer_name = ctx.config["product"]["first_stage_scorer"]
    scorer = ctx.build_baseline(scorer_name, where="product.first_stage_scorer") if scorer_name else None
    counts = {}
    fingerprints = []
    for split, pairs in bundle.splits().items():
        pairs = with_field_features(pairs, features)
        if scorer is not None:
            pairs = with_first_stage_scores(pairs, scorer)
        rows = [p.to_row() for p in pairs]
        ctx.io.write_jsonl(SPLIT_FILES[split], rows)
        counts[split] = len(rows)
        fingerprints.append(fingerprint_rows(rows))
    ctx.io.write_jsonl(ENGAGEMENT_LOG, bundle.engagement)
    counts["engagement"] = len(bundle.engagement)
    summary = {"counts": counts, "data_fingerprint": fingerprint_rows({"split": f} for f in fingerprints)}
    if bundle.first_stage is not None:
        ctx.io.write_json(FIRST_STAGE, bundle.first_stage.to_json())
        summary["first_stage"] = bundle.first_stage.to_json()
    if bundle.notes:
        ctx.io.write_json(NOTES, list(bundle.notes))
        summary["notes"] = list(bundle.notes)
    return summary
