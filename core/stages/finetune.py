"""finetune: train a judge or a teacher (Lightning; LoRA when its config asks).

From golden train labels (``loss.finetune``) when it is the first model of the
recipe, or from the judge's soft labels on the pool plus golden train
(``loss.distill``) when a judge labeled the pool first: the teacher then learns
from far more pairs than people labeled, as LinkedIn's teachers learn from
their 7B judge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from stillroom.context import RunContext
from stillroom.errors import StillroomError
from stillroom.losses import HIDDEN, RELEVANCE, HiddenWidths
from stillroom.ranker import WEIGHTS_FILE, Ranker, count_parameters, model_state
from stillroom.scoring import has_hidden
from stillroom.stages.label import labeled_items
from stillroom.training import TargetShapes, TrainItem, fit

NAME = "finetune"
JUDGE_NAME = "judge"


def golden_items(ctx: RunContext, split: str) -> list[TrainItem]:
    return [TrainItem(p.request_text, p.candidate_text, label=int(p.label), request_id=p.request_id) for p in ctx.pairs(split)]


def train(
    ctx: RunContext,
    role: str,
    stage: str,
    items: Sequence[TrainItem],
    terms_config: Sequence[Mapping[str, Any]],
    *,
    run_name: str | None = None,
    init_from: Ranker | None = None,
    epochs: int | None = None,
    val_items: Sequence[TrainItem] | None = None,
    model: Ranker | None = None,
) -> dict[str, Any]:
    """Build ``role`` (from ``init_from`` where its builder does so), or take ``model`` as it is, train it
    on ``items``, save its weights.

    ``val_items`` (golden dev unless given) drive early stopping when the role's config asks for it.
    """
    model_config = ctx.config[role]
    model = model if model is not None else ctx.build_model(role, model_config, teacher=init_from)
    train_config = {**model_config["train"], **({"epochs": epochs} if epochs is not None else {})}
    widths = hidden_widths(model, items)
    terms = ctx.loss_terms(terms_config, widths)
    if widths is None and any(HIDDEN in term.needs for term in terms):
        # One loss config teaches a teacher from its judge and a student from its teacher; a causal-LM
        # judge records no hidden states, so there the representation terms cannot apply.
        skipped = ", ".join(term.name for term in terms if HIDDEN in term.needs)
        terms = [term for term in terms if HIDDEN not in term.needs]
        print(f"[stillroom] {stage}: {skipped} left out: the {role} or the model that labeled its data has no hidden states")
        if not terms:
            raise StillroomError(f"no loss term is left once {skipped} is left out", where=f"loss ({stage})")
    history = fit(
        model,
        terms,
        items,
        golden_items(ctx, "dev") if val_items is None else val_items,
        train_config,
        ctx.trainer_config,
        ctx.loggers(run_name or role),
        ctx.seed,
        checkpoints=ctx.checkpoint_dir(stage),
        stage=stage,
        ndcg_k=int(ctx.config["evaluator"]["k"]),
    )
    ctx.store.write_tensors(stage, WEIGHTS_FILE, model_state(model))
    ctx.store.write_jsonl(stage, "history.jsonl", history)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"params": count_parameters(model), "trainable_params": trainable, "train_pairs": len(items), "epochs": int(train_config["epochs"])}


def hidden_widths(model: Ranker, items: Sequence[TrainItem]) -> HiddenWidths | None:
    """The widths a hidden-state loss projects between, when the model and some teacher have hidden states."""
    teachers = TargetShapes.of(items).hidden_widths
    if not teachers or not has_hidden(model):
        return None
    with torch.no_grad():
        _, hidden = model.forward_with_hidden(**model.tokenize([items[0].request_text], [items[0].candidate_text]))
    return HiddenWidths(int(hidden.shape[-1]), teachers)


def precedent_items(ctx: RunContext) -> list[TrainItem]:
    """The policy's precedents, each ``labeling.precedent_copies`` times.

    Annotators keep the precedents open while they label; a model that cannot
    read a prompt learns them as examples instead. They are few against
    thousands of golden pairs, hence the copies. Each copy is a request of its
    own, so that batches of whole requests spread the copies out.
    """
    copies = int(ctx.config["labeling"]["precedent_copies"])
    precedents = ctx.precedents() if copies else []
    return [
        TrainItem(p.request_text, p.candidate_text, label=int(p.label), request_id=f"{p.request_id}/copy-{copy}")
        for copy in range(copies)
        for p in precedents
    ]


def run_on_golden(ctx: RunContext, role: str, stage: str) -> dict[str, Any]:
    """The first labeler of the recipe learns from golden train and the policy's precedents."""
    return train(ctx, role, stage, golden_items(ctx, "train") + precedent_items(ctx), ctx.config["loss"]["finetune"])


def run_from_labels(ctx: RunContext, role: str, stage: str, labels_stage: str) -> dict[str, Any]:
    return train(ctx, role, stage, labeled_items(ctx, {RELEVANCE: labels_stage}), ctx.config["loss"]["distill"])
