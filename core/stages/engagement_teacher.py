"""finetune_engagement: the second teacher, learned from what members did.

The engagement teacher reads the same pairs as the relevance teacher but
learns the engagement log's grades (see :mod:`stillroom.engagement`) on golden
train and the pool, where logs are plentiful and free, validated on golden
dev's. The ``label_engagement`` stage then labels the pool and golden train on
its own scale, in its own file, for the student's engagement loss terms
(``teacher: engagement``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stillroom.engagement import ROLE, engagement_grades, graded_pairs
from stillroom.errors import StillroomError
from stillroom.features import pair_features
from stillroom.stages.context import RunContext
from stillroom.stages.contracts import Stage, TrainedModel
from stillroom.stages.training import LABELED_SPLITS, TRAIN_KEYS, TRAINING_DATA, train
from stillroom.training import TrainItem

NAME = "finetune_engagement"
ENGAGEMENT_TEACHER = TrainedModel(ROLE, ROLE, on_policy_scale=False)
LOG = "data.engagement_log"


def declare(config: Mapping[str, Any]) -> list[Stage]:
    if not config.get(ROLE):
        return []
    return [
        Stage(
            NAME,
            run,
            (*TRAIN_KEYS, ROLE, "loss.finetune", "product.engagement_events"),
            reads=(LOG, *TRAINING_DATA),
            trains=ENGAGEMENT_TEACHER,
        )
    ]


def engagement_items(ctx: RunContext, splits: Sequence[str]) -> list[TrainItem]:
    """The logged pairs of ``splits``, each labeled with its engagement grade."""
    grades = engagement_grades(ctx.io.read_jsonl(LOG), ctx.config["product"]["engagement_events"], str(ctx.io.path(LOG)))
    items = []
    for split in splits:
        pairs = ctx.pairs(split)
        features = dict(zip((p.pair_id for p in pairs), pair_features(pairs), strict=True))
        items += [
            TrainItem(pair.request_text, pair.candidate_text, label=grade, request_id=pair.request_id, features=features[pair.pair_id])
            for pair, grade in graded_pairs(pairs, grades)
        ]
    return items


def run(ctx: RunContext) -> dict[str, Any]:
    items = engagement_items(ctx, LABELED_SPLITS)
    if not items:
        raise StillroomError("the engagement log covers none of the pool or golden train pairs", where="data (engagement log)")
    return train(ctx, ENGAGEMENT_TEACHER, items, "finetune", val_items=engagement_items(ctx, ("dev",)))
