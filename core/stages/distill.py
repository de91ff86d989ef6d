"""distill: train the student from the teacher's soft labels plus the golden labels.

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

from stillroom.context import RunContext
from stillroom.ranker import WEIGHTS_FILE, Ranker, count_parameters, for_inference, model_state
from stillroom.stages import finetune, label
from stillroom.training import NO_LABEL, TrainItem, fit

NAME = "distill"
NO_KD_NAME = "distill_no_kd"


def distill_items(ctx: RunContext) -> list[TrainItem]:
    """The pool and golden train with the teacher's soft labels, golden train with its human labels too."""
    soft = ctx.store.read_tensors(label.NAME, label.SOFT_LABELS_FILE)
    items = []
    for split in label.LABELED_SPLITS:
        for pair, probs in zip(ctx.pairs(split), soft[split].tolist(), strict=True):
            golden = NO_LABEL if pair.label is None else int(pair.label)
            items.append(TrainItem(pair.request_text, pair.candidate_text, label=golden, teacher_probs=probs))
    return items


def _train_student(
    ctx: RunContext, stage: str, items: list[TrainItem], terms_config: list[dict[str, Any]], run_name: str, epochs: int, init_from: Ranker
) -> dict[str, Any]:
    """Train the configured student, initialised (where its builder does so) from ``init_from``."""
    student_config = ctx.config["student"]
    student = ctx.build_model("student", student_config, teacher=init_from)
    history = fit(
        student,
        ctx.loss_terms(terms_config),
        items,
        finetune.golden_items(ctx, "dev"),
        {**student_config["train"], "epochs": epochs},
        ctx.trainer_config,
        ctx.loggers(run_name),
        ctx.policy.num_labels,
        ctx.seed,
    )
    ctx.store.write_tensors(stage, WEIGHTS_FILE, model_state(student))
    ctx.store.write_jsonl(stage, "history.jsonl", history)
    return {"params": count_parameters(student), "train_pairs": len(items), "epochs": epochs}


def run(ctx: RunContext) -> dict[str, Any]:
    epochs = int(ctx.config["student"]["train"]["epochs"])
    teacher = ctx.load_model("teacher", ctx.config["teacher"], finetune.NAME)
    return _train_student(ctx, NAME, distill_items(ctx), ctx.config["loss"]["distill"], "student", epochs, teacher)


def no_kd_terms(ctx: RunContext) -> list[dict[str, Any]]:
    """The distill terms that need no teacher; the finetune terms when there are none."""
    terms = ctx.loss_terms(ctx.config["loss"]["distill"])
    kept = [cfg for cfg, term in zip(ctx.config["loss"]["distill"], terms, strict=True) if not term.needs_teacher]
    return kept or list(ctx.config["loss"]["finetune"])


def matched_epochs(ctx: RunContext, n_items: int) -> int:
    """Epochs over ``n_items`` pairs that take as many optimizer steps as the distill stage."""
    train = ctx.config["student"]["train"]
    batch = int(train["batch_size"])
    distill_steps = int(train["epochs"]) * math.ceil(len(distill_items(ctx)) / batch)
    return max(1, round(distill_steps / math.ceil(n_items / batch)))


def run_no_kd(ctx: RunContext) -> dict[str, Any]:
    """The baseline starts from the teacher as built, before fine-tuning: what a student may inherit
    from the pretrained model, and nothing learned from the teacher's labels or training."""
    items = finetune.golden_items(ctx, "train")
    untrained_teacher = for_inference(ctx.build_model("teacher", ctx.config["teacher"]))
    epochs = matched_epochs(ctx, len(items))
    return _train_student(ctx, NO_KD_NAME, items, no_kd_terms(ctx), "student_no_kd", epochs, untrained_teacher)
