"""What the training stages share: the items they learn from, and training one declared model on them.

``finetune``, ``distill``, ``prune`` and the engagement teacher all train a
model through :func:`train`; they differ in the items (golden labels,
precedents, soft labels of one or two teachers) and the loss terms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from stillroom import engagement
from stillroom.errors import StillroomError
from stillroom.evaluation.significance import IntervalSettings
from stillroom.features import chosen_by_first_stage, model_inputs, pair_features
from stillroom.losses import ENGAGEMENT, HIDDEN, NO_LABEL, RELEVANCE, HiddenWidths
from stillroom.ranker import Ranker, count_parameters, model_state
from stillroom.stages.context import SCORES, RunContext
from stillroom.stages.contracts import TrainedModel, data_split, hidden_states, soft_labels
from stillroom.stages.labeling import read_soft_labels
from stillroom.training import TargetShapes, TrainItem, fit
from stillroom.training.fusion_start import start_from_fusion
from stillroom.training.scoring import has_hidden

TRAIN_KEYS = (*SCORES, "logger", "evaluator.k", "evaluator.intervals")
"""What every training stage reads beside its model's config: ``evaluator.k`` cuts the dev NDCG that picks the best epoch."""
LABELED_SPLITS = ("pool", "train")
"""The splits a labeler labels and a student learns from: the unlabeled pool and golden train."""
LABELED_DATA = tuple(data_split(split) for split in LABELED_SPLITS)
"""The artifacts of those splits, as ``prepare`` wrote them."""
TRAINING_DATA = (*LABELED_DATA, data_split("dev"))
"""What a stage that learns the labeled splits reads: those, and golden dev, which :func:`train` validates on."""


TEACHER_ROLES = ("teacher", engagement.ROLE)
"""The models a student may learn from: a stage that distills reads both configs, the second to ask whether there is
an engagement teacher."""


def teacher_sources(config: Mapping[str, Any]) -> dict[str, str]:
    """Each teacher objective the student learns, and the model whose soft labels it reads."""
    return {RELEVANCE: "teacher", **({ENGAGEMENT: engagement.ROLE} if config.get(engagement.ROLE) else {})}


def reads_labels(labelers: Iterable[str]) -> tuple[str, ...]:
    """The artifacts :func:`labeled_items` reads for these labelers."""
    return tuple(name for labeler in labelers for name in (soft_labels(labeler), hidden_states(labeler)))


def golden_items(ctx: RunContext, split: str, chosen_only: bool = False) -> list[TrainItem]:
    """A golden split's pairs as training reads them; with ``chosen_only``, only those its first stage chose, as
    serving's lists hold (:func:`~stillroom.features.chosen_by_first_stage`)."""
    pairs = ctx.pairs(split)
    items = [
        TrainItem(p.request_text, p.candidate_text, label=int(p.label), request_id=p.request_id, features=features)
        for p, features in zip(pairs, pair_features(pairs), strict=True)
    ]
    return [item for item, chosen in zip(items, chosen_by_first_stage(pairs), strict=True) if chosen] if chosen_only else items


def precedent_items(ctx: RunContext) -> list[TrainItem]:
    """The policy's precedents, each ``labeling.precedent_copies`` times.

    Annotators keep the precedents open while they label; a model that cannot
    read a prompt learns them as examples instead. They are few against
    thousands of golden pairs, hence the copies. Each copy is a request of its
    own, so that batches of whole requests spread the copies out.
    """
    copies = ctx.config["labeling"]["precedent_copies"]
    precedents = ctx.precedents() if copies else []
    return [
        TrainItem(p.request_text, p.candidate_text, label=int(p.label), request_id=f"{p.request_id}/copy-{copy}")
        for copy in range(copies)
        for p in precedents
    ]


def labeled_items(ctx: RunContext, sources: Mapping[str, str]) -> list[TrainItem]:
    """The pool and golden train with every teacher's soft labels, golden train with its human labels too.

    ``sources`` maps each teacher objective (``"relevance"``, ``"engagement"``)
    to the model whose labels it is; each teacher's labels stay in their own file.
    """
    soft = {objective: read_soft_labels(ctx.io, soft_labels(labeler), ctx.policy) for objective, labeler in sources.items()}
    hidden = {objective: ctx.io.read_tensors(hidden_states(labeler)) for objective, labeler in sources.items() if ctx.io.has(hidden_states(labeler))}
    items = []
    for split in LABELED_SPLITS:
        pairs = ctx.pairs(split)
        for row, (pair, features) in enumerate(zip(pairs, pair_features(pairs), strict=True)):
            items.append(
                TrainItem(
                    pair.request_text,
                    pair.candidate_text,
                    label=NO_LABEL if pair.label is None else int(pair.label),
                    targets={objective: labels[split][row] for objective, labels in soft.items()},
                    hidden={objective: states[split][row] for objective, states in hidden.items()},
                    request_id=pair.request_id,
                    features=features,
                )
            )
    return items


def hidden_widths(model: Ranker, items: Sequence[TrainItem]) -> HiddenWidths | None:
    """The widths a hidden-state loss projects between, when the model and some teacher have hidden states."""
    teachers = TargetShapes.of(items).hidden_widths
    if not teachers or not has_hidden(model):
        return None
    with torch.no_grad():
        _, hidden = model.forward_with_hidden(**model_inputs(model, [items[0].request_text], [items[0].candidate_text], [items[0].features]))
    return HiddenWidths(int(hidden.shape[-1]), teachers)


def train(
    ctx: RunContext,
    trained: TrainedModel,
    items: Sequence[TrainItem],
    loss: str,
    *,
    terms_config: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    init_from: Ranker | None = None,
    epochs: int | None = None,
    val_items: Sequence[TrainItem] | None = None,
    model: Ranker | None = None,
) -> dict[str, Any]:
    """Build ``trained`` (from ``init_from`` where its builder does so), or take ``model`` as it is, train it
    on ``items`` with the loss terms of ``loss.<loss>`` (or ``terms_config``, a selection of them), and write
    its weights and history as the running stage declares them.

    ``val_items`` (golden dev unless given) drive early stopping when the role's config asks for it.
    """
    stage = ctx.io.stage.name if ctx.io.stage else trained.name
    model_config = ctx.config[trained.role]
    model = model if model is not None else ctx.build_model(trained.role, model_config, teacher=init_from)
    train_config = {**model_config["train"], **({"epochs": epochs} if epochs is not None else {})}
    widths = hidden_widths(model, items)
    terms = ctx.loss_terms(ctx.config["loss"][loss] if terms_config is None else terms_config, widths, where=f"loss.{loss}")
    if widths is None and any(HIDDEN in term.needs for term in terms):
        # One loss config teaches a teacher from its judge and a student from its teacher; a causal-LM
        # judge records no hidden states, so there the representation terms cannot apply.
        skipped = ", ".join(term.name for term in terms if HIDDEN in term.needs)
        terms = [term for term in terms if HIDDEN not in term.needs]
        print(f"[stillroom] {stage}: {skipped} left out: the {trained.role} or the model that labeled its data has no hidden states")
        if not terms:
            raise StillroomError(f"no loss term is left once {skipped} is left out", where=f"loss ({stage})")
    # The fusion is fitted on golden train's lists as the first stage served them (more queries than dev has), and
    # dev then chooses between it and each epoch. A model judged on other data (the engagement teacher) fits on that.
    fusion_items = golden_items(ctx, "train", chosen_only=True) if val_items is None else val_items
    val_items = golden_items(ctx, "dev") if val_items is None else val_items
    ndcg_k = ctx.config["evaluator"]["k"]
    fusion = (
        start_from_fusion(model, fusion_items, f"ndcg@{ndcg_k}", int(train_config["eval_batch_size"]), bool(train_config["calibrate_start"]))
        if train_config["start_from_fusion"]
        else None
    )
    if fusion is not None:
        print(f"[stillroom] {stage}: starts from its fusion with the first stage that ranks golden train best: weights {list(fusion.weights)}")
    history = fit(
        model,
        terms,
        items,
        val_items,
        train_config,
        ctx.trainer_config,
        ctx.loggers(run_name or trained.role),
        ctx.seed,
        checkpoints=ctx.checkpoint_dir(),
        stage=stage,
        ndcg_k=ndcg_k,
        intervals=IntervalSettings.of_run(ctx.config),
    )
    ctx.io.write_tensors(trained.weights, model_state(model))
    ctx.io.write_jsonl(trained.history, history)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    summary = {"params": count_parameters(model), "trainable_params": trainable, "train_pairs": len(items), "epochs": int(train_config["epochs"])}
    return {**summary, **({"start_fusion_weights": list(fusion.weights)} if fusion is not None else {})}
