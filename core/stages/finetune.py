"""finetune: train the teacher on the golden train labels (Lightning; LoRA if the teacher config asks)."""

from __future__ import annotations

from typing import Any

from stillroom.context import RunContext
from stillroom.ranker import WEIGHTS_FILE, count_parameters, model_state
from stillroom.training import TrainItem, fit

NAME = "finetune"


def golden_items(ctx: RunContext, split: str) -> list[TrainItem]:
    return [TrainItem(p.request_text, p.candidate_text, label=int(p.label)) for p in ctx.pairs(split)]


def run(ctx: RunContext) -> dict[str, Any]:
    teacher_config = ctx.config["teacher"]
    teacher = ctx.build_model("teacher", teacher_config)
    train_items = golden_items(ctx, "train")
    terms = ctx.loss_terms(ctx.config["loss"]["finetune"])
    history = fit(
        teacher,
        terms,
        train_items,
        golden_items(ctx, "dev"),
        teacher_config["train"],
        ctx.trainer_config,
        ctx.loggers("teacher"),
        ctx.policy.num_labels,
        ctx.seed,
    )
    ctx.store.write_tensors(NAME, WEIGHTS_FILE, model_state(teacher))
    ctx.store.write_jsonl(NAME, "history.jsonl", history)
    trainable = sum(p.numel() for p in teacher.parameters() if p.requires_grad)
    return {"params": count_parameters(teacher), "trainable_params": trainable, "train_pairs": len(train_items)}
