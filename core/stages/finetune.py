"""finetune (and judge): train a judge or a teacher (Lightning; LoRA when its config asks).

From golden train labels (``loss.finetune``) when it is the first model of the
recipe, or from the judge's soft labels on the pool plus golden train
(``loss.distill``) when a judge labeled the pool first: the teacher then learns
from far more pairs than people labeled, as LinkedIn's teachers learn from
their 7B judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from stillroom.losses import RELEVANCE
from stillroom.stages.context import RunContext
from stillroom.stages.contracts import Stage, TrainedModel, data_split
from stillroom.stages.labeling import labelers
from stillroom.stages.training import TRAIN_KEYS, TRAINING_DATA, golden_items, labeled_items, precedent_items, reads_labels, train

NAME = "finetune"
JUDGE_NAME = "judge"
JUDGE = TrainedModel("judge", "judge")
TEACHER = TrainedModel("teacher", "teacher")
GOLDEN_READS = (data_split("train"), data_split("dev"))


def declare(config: Mapping[str, Any]) -> list[Stage]:
    """The first labeler learns golden train; with a judge, the teacher then learns the judge's labels."""
    if JUDGE.name not in labelers(config):
        return [_on_golden(NAME, TEACHER)]
    from_judge = Stage(
        NAME,
        partial(run_from_labels, trained=TEACHER, labeler=JUDGE.name),
        (*TRAIN_KEYS, TEACHER.role, "loss.distill"),
        reads=(*reads_labels([JUDGE.name]), *TRAINING_DATA),
        trains=TEACHER,
    )
    return [_on_golden(JUDGE_NAME, JUDGE), from_judge]


def _on_golden(name: str, trained: TrainedModel) -> Stage:
    return Stage(
        name,
        partial(run_on_golden, trained=trained),
        (*TRAIN_KEYS, trained.role, "loss.finetune", "labeling.precedent_copies"),
        reads=GOLDEN_READS,
        trains=trained,
    )


def run_on_golden(ctx: RunContext, trained: TrainedModel) -> dict[str, Any]:
    """The first labeler of the recipe learns from golden train and the policy's precedents."""
    return train(ctx, trained, golden_items(ctx, "train") + precedent_items(ctx), "finetune")


def run_from_labels(ctx: RunContext, trained: TrainedModel, labeler: str) -> dict[str, Any]:
    return train(ctx, trained, labeled_items(ctx, {RELEVANCE: labeler}), "distill")
