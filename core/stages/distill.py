"""distill and distill_no_kd: train the student from the teachers' soft labels plus the golden labels.

The relevance teacher's labels always; the engagement teacher's too when the
recipe has one (``engagement_teacher=...``), each in its own file, each read by
the loss terms that name it.

The same student architecture is also trained on golden labels alone
(``student_no_kd``) with the loss terms that need no teacher, so the report
shows what distillation adds. The baseline may take as many optimizer steps as
the distilled student (more passes over its smaller set), and with early
stopping it keeps its best dev epoch: the comparison is about the teacher's
labels, not about a shorter training run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stillroom.losses import term_entries
from stillroom.ranker import for_inference
from stillroom.stages.context import RunContext
from stillroom.stages.contracts import Stage, TrainedModel, reads_model
from stillroom.stages.training import (
    LABELED_SPLITS,
    TEACHER_ROLES,
    TRAIN_KEYS,
    TRAINING_DATA,
    golden_items,
    labeled_items,
    reads_labels,
    teacher_sources,
    train,
)

NAME = "distill"
NO_KD_NAME = "distill_no_kd"
ROLE = "student"
STUDENT = TrainedModel("student", ROLE)
BEFORE_PRUNING = TrainedModel("student_before_pruning", ROLE)
"""What ``distill`` trains when the recipe prunes: the ``prune`` stage then trains ``student`` from it."""
NO_KD = TrainedModel("student_no_kd", ROLE)


def declare(config: Mapping[str, Any]) -> list[Stage]:
    pruned = bool((config.get("prune") or {}).get("enabled"))
    teachers = teacher_sources(config).values()
    return [
        Stage(
            NAME,
            run,
            (*TRAIN_KEYS, ROLE, *TEACHER_ROLES, "loss.distill"),
            reads=(*reads_model("teacher"), *reads_labels(teachers), *TRAINING_DATA),
            trains=BEFORE_PRUNING if pruned else STUDENT,
        ),
        # The baseline reads no labels: it starts from the teacher as built and learns golden train.
        Stage(NO_KD_NAME, run_no_kd, (*TRAIN_KEYS, ROLE, "teacher", "loss"), reads=TRAINING_DATA, trains=NO_KD),
    ]


def run(ctx: RunContext) -> dict[str, Any]:
    teacher = ctx.load_model("teacher")
    items = labeled_items(ctx, teacher_sources(ctx.config))
    return train(ctx, ctx.io.stage.trains, items, "distill", init_from=teacher)


def no_kd_terms(ctx: RunContext) -> tuple[str, dict[str, Any]]:
    """The distill terms that need no teacher, or the finetune terms when there are none: the config entry they come
    from and the terms."""
    distill = term_entries(ctx.config["loss"]["distill"], "loss.distill")
    needs_teacher = {term.name for term in ctx.loss_terms(ctx.config["loss"]["distill"], where="loss.distill") if term.needs_teacher}
    kept = {name: params for name, params in distill.items() if name not in needs_teacher}
    return ("distill", kept) if kept else ("finetune", term_entries(ctx.config["loss"]["finetune"], "loss.finetune"))


def matched_epochs(ctx: RunContext, n_items: int) -> int:
    """Epochs over ``n_items`` pairs that take as many optimizer steps as the distill stage."""
    train_config = ctx.config[ROLE]["train"]
    batch = int(train_config["batch_size"])
    distilled = sum(len(ctx.pairs(split)) for split in LABELED_SPLITS)
    distill_steps = int(train_config["epochs"]) * math.ceil(distilled / batch)
    return max(1, round(distill_steps / math.ceil(n_items / batch)))


def run_no_kd(ctx: RunContext) -> dict[str, Any]:
    """The baseline starts from the teacher as built, before fine-tuning: what a student may inherit
    from the pretrained model, and nothing learned from the teacher's labels or training."""
    items = golden_items(ctx, "train")
    untrained_teacher = for_inference(ctx.build_model("teacher", ctx.config["teacher"]))
    epochs = matched_epochs(ctx, len(items))
    loss, terms = no_kd_terms(ctx)
    return train(ctx, NO_KD, items, loss, terms_config=terms, run_name="student_no_kd", init_from=untrained_teacher, epochs=epochs)
