"""prepare: ask the product's data source for the golden set, the pool and the engagement log."""

from __future__ import annotations

from typing import Any

from stillroom.context import PREPARE_STAGE, RunContext
from stillroom.data import fingerprint_rows
from stillroom.errors import StillroomError

NAME = PREPARE_STAGE
FIRST_STAGE_FILE = "first_stage.json"
"""Written when the data source had a retrieval first stage: its name, k and recall@k on test."""


def run(ctx: RunContext) -> dict[str, Any]:
    product = ctx.config["product"]["name"]
    data_config = ctx.config["data"]
    bundle = ctx.plugins.hook.stillroom_data_source(product=product, data_config=data_config, policy=ctx.policy, seed=ctx.seed)
    if bundle is None:
        raise StillroomError(
            f"no plugin provides data source {data_config.get('name')!r} for product {product!r}", where="data.name"
        )
    counts = {}
    fingerprints = []
    for split, pairs in bundle.splits().items():
        if not pairs and split != "dev":
            raise StillroomError(f"the data source gave no {split} pairs", where=f"data ({data_config.get('name')})")
        rows = [p.to_row() for p in pairs]
        ctx.store.write_jsonl(NAME, f"{split}.jsonl", rows)
        counts[split] = len(rows)
        fingerprints.append(fingerprint_rows(rows))
    ctx.store.write_jsonl(NAME, "engagement.jsonl", bundle.engagement)
    counts["engagement"] = len(bundle.engagement)
    summary = {"counts": counts, "data_fingerprint": fingerprint_rows({"split": f} for f in fingerprints)}
    if bundle.first_stage is not None:
        ctx.store.write_json(NAME, FIRST_STAGE_FILE, bundle.first_stage.to_json())
        summary["first_stage"] = bundle.first_stage.to_json()
    return summary
