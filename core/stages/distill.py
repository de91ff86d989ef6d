"""distill: train the student from the teacher's soft labels plus the golden labels.

The same student architecture is also trained on golden labels alone
(``student_no_kd``) with the loss terms that need no teacher, so the report
shows what distillation adds.
"""

from __future__ import annotations

from typing import Any

from stillroom.context import RunContext
from stillroom.ranker import WEIGHTS_FILE, count_parameters, trainable_state
from stillroom.stages import finetune, label
from stillroom.training import TrainItem, fit

NAME = "distill"
NO_KD_NAME = "distill_no_kd"


def distill_items(ctx: RunContext) -> list[TrainItem]:
    soft = ctx.store.read_tensors(label.NAME, label.SOFT_LABELS_FILE)
    items = []
    for split in label.LABELED_SPLITS:
        for pair, probs in zip(ctx.pairs(split), soft[split].tolist(), strict=True):
            golden = int(pair.label) if pair.label is not None else -1
            items.append(TrainItem(pair.request_text, pair.candidate_text, label=golden, teacher_probs=probs))
    return items


def _train_student(ctx: RunContext, stage: str, items: list[TrainItem], terms_config: list[dict[str, Any]], run_name: str) -> dict[str, Any]:
    teacher = ctx.load_model("teacher", ctx.config["teacher"], finetune.NAME)
    student_config = ctx.config["student"]
    student = ctx.build_model("student", student_config, teacher=teacher)
    del teacher
    history = fit(
        student,
        ctx.loss_terms(terms_config),
        items,
        finetune.golden_items(ctx, "dev"),
        student_config["train"],
        ctx.trainer_config,
        ctx.loggers(run_name),
        ctx.policy.num_labels,
        ctx.seed,
    )
    ctx.store.write_tensors(stage, WEIGHTS_FILE, trainable_state(student))
    ctx.store.write_jsonl(stage, "history.jsonl", history)
    return {"params": count_parameters(student), "train_pairs": len(items)}


def run(ctx: RunContext) -> dict[str, Any]:
    return _train_student(ctx, NAME, distill_items(ctx), ctx.config["loss"]["distill"], "student")


def no_kd_terms(ctx: RunContext) -> list[dict[str, Any]]:
    """The distill terms that need no teacher; the finetune terms when there are none."""
    terms = ctx.loss_terms(ctx.config["loss"]["distill"])
    kept = [cfg for cfg, term in zip(ctx.config["loss"]["distill"], terms, strict=True) if not term.needs_teacher]
    return kept or list(ctx.config["loss"]["finetune"])


def run_no_kd(ctx: RunContext) -> dict[str, Any]:
    return _train_student(ctx, NO_KD_NAME, finetune.golden_items(ctx, "train"), no_kd_terms(ctx), "student_no_kd")
