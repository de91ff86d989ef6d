"""distill: train the student from the teachers' soft labels plus the golden labels.

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
from typing import Any

from stillroom import engagement
from stillroom.context import RunContext
from stillroom.losses import ENGAGEMENT, RELEVANCE
from stillroom.ranker import for_inference
from stillroom.stages import engagement_teacher, finetune, label

NAME = "distill"
NO_KD_NAME = "distill_no_kd"
ROLE = "student"


def teacher_labels(config: dict[str, Any]) -> dict[str, str]:
    """Each teacher objective the student learns, and the stage whose soft labels it reads."""
    return {RELEVANCE: label.NAME, **({ENGAGEMENT: engagement_teacher.LABEL_NAME} if config.get(engagement.ROLE) else {})}


def run(ctx: RunContext) -> dict[str, Any]:
    teacher = ctx.load_model("teacher", ctx.config["teacher"], finetune.NAME)
    items = label.labeled_items(ctx, teacher_labels(ctx.config))
    return finetune.train(ctx, ROLE, NAME, items, ctx.config["loss"]["distill"], init_from=teacher)


def no_kd_terms(ctx: RunContext) -> list[dict[str, Any]]:
    """The distill terms that need no teacher; the finetune terms when there are none."""
    terms = ctx.loss_terms(ctx.config["loss"]["distill"])
    kept = [cfg for cfg, term in zip(ctx.config["loss"]["distill"], terms, strict=True) if not term.needs_teacher]
    return kept or list(ctx.config["loss"]["finetune"])


def matched_epochs(ctx: RunContext, n_items: int) -> int:
    """Epochs over ``n_items`` pairs that take as many optimizer steps as the distill stage."""
    train = ctx.config["student"]["train"]
    batch = int(train["batch_size"])
    distilled = sum(len(ctx.pairs(split)) for split in label.LABELED_SPLITS)
    distill_steps = int(train["epochs"]) * math.ceil(distilled / batch)
    return max(1, round(distill_steps / math.ceil(n_items / batch)))


def run_no_kd(ctx: RunContext) -> dict[str, Any]:
    """The baseline starts from the teacher as built, before fine-tuning: what a student may inherit
    from the pretrained model, and nothing learned from the teacher's labels or training."""
    items = finetune.golden_items(ctx, "train")
    untrained_teacher = for_inference(ctx.build_model("teacher", ctx.config["teacher"]))
    epochs = matched_epochs(ctx, len(items))
    return finetune.train(ctx, ROLE, NO_KD_NAME, items, no_kd_terms(ctx), run_name="student_no_kd", init_from=untrained_teacher, epochs=epochs)
