"""prepare: ask the product's data source for the golden set, the pool and the engagement log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stillroom.data import fingerprint_rows, read_data_source
from stillroom.plugin_boundary import contributions
from stillroom.recipe.context import RunContext
from stillroom.recipe.contracts import Artifact, Stage, data_split

NAME = "prepare"
SPLITS = {split: Artifact(data_split(split), f"{split}.jsonl") for split in ("train", "dev", "test", "pool")}
ENGAGEMENT_LOG = Artifact("data.engagement_log", "engagement.jsonl")
"""What members did with the pairs (may be empty): the engagement teacher learns from it."""
FIRST_STAGE = Artifact("data.first_stage", "first_stage.json", optional=True)
"""Written when the data source had a retrieval first stage: its name, k and recall@k on test."""
NOTES = Artifact("data.notes", "notes.json", optional=True)
"""Written when the data source said how it made the splits (:attr:`~stillroom.data.DataBundle.notes`): a list of sentences."""


def declare(config: Mapping[str, Any]) -> list[Stage]:
    return [Stage(NAME, run, ("seed", "product", "data"), writes=(*SPLITS.values(), ENGAGEMENT_LOG, FIRST_STAGE, NOTES))]


def run(ctx: RunContext) -> dict[str, Any]:
    product = ctx.config["product"]["name"]
    data_config = ctx.config["data"]
    bundle = read_data_source(contributions(ctx.plugins.hook.stillroom_data_sources), product, data_config, ctx.policy, ctx.seed)
    counts = {}
    fingerprints = []
    for split, pairs in bundle.splits().items():
        rows = [p.to_row() for p in pairs]
        ctx.io.write_jsonl(SPLITS[split], rows)
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
