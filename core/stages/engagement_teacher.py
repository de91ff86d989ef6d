"""finetune_engagement and label_engagement: the second teacher, learned from what members did.

The engagement teacher reads the same pairs as the relevance teacher but
learns the engagement log's grades (see :mod:`stillroom.engagement`) on golden
train and the pool, where logs are plentiful and free, validated on golden
dev's. It then labels the pool and golden train on its own scale, in its own
file, for the student's engagement loss terms (``teacher: engagement``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stillroom.context import PREPARE_STAGE, RunContext
from stillroom.engagement import ROLE, engagement_grades, graded_pairs
from stillroom.errors import StillroomError
from stillroom.stages import finetune, label
from stillroom.training import TrainItem

TRAIN_NAME = "finetune_engagement"
LABEL_NAME = "label_engagement"
LOG_FILE = "engagement.jsonl"


def engagement_items(ctx: RunContext, splits: Sequence[str]) -> list[TrainItem]:
    """The logged pairs of ``splits``, each labeled with its engagement grade."""
    grades = engagement_grades(
        ctx.store.read_jsonl(PREPARE_STAGE, LOG_FILE), ctx.config["product"]["engagement_events"], str(ctx.store.path(PREPARE_STAGE, LOG_FILE))
    )
    return [
        TrainItem(pair.request_text, pair.candidate_text, label=grade, request_id=pair.request_id)
        for split in splits
        for pair, grade in graded_pairs(ctx.pairs(split), grades)
    ]


def run_finetune(ctx: RunContext) -> dict[str, Any]:
    items = engagement_items(ctx, label.LABELED_SPLITS)
    if not items:
        raise StillroomError("the engagement log covers none of the pool or golden train pairs", where="data (engagement log)")
    return finetune.train(ctx, ROLE, TRAIN_NAME, items, ctx.config["loss"]["finetune"], val_items=engagement_items(ctx, ("dev",)))


def run_label(ctx: RunContext) -> dict[str, Any]:
    return label.run(ctx, ROLE, TRAIN_NAME, LABEL_NAME)
