"""label: a trained model scores the unlabeled pool and golden train; its soft labels go to disk.

The labeler is the judge (stage ``judge_label``, for the teacher to learn
from) or the teacher (stage ``label``, for the student). See
:mod:`stillroom.labeling` for how the labels stay bound to the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from stillroom.context import RunContext
from stillroom.data import Pair
from stillroom.labeling import cap_by_rules, read_soft_labels, write_soft_labels
from stillroom.losses import NO_LABEL
from stillroom.ranker import Ranker
from stillroom.scoring import predict_probs
from stillroom.training import TrainItem

NAME = "label"
JUDGE_NAME = "judge_label"
LABELED_SPLITS = ("pool", "train")


def labels_of(ctx: RunContext, role: str, model: Ranker, pairs: Sequence[Pair]) -> torch.Tensor:
    """The labels ``model`` gives ``pairs`` as the labeler ``role``: its probabilities, capped by the rules if configured."""
    batch_size = int(ctx.config[role]["train"]["eval_batch_size"])
    probs = predict_probs(model, pairs, ctx.policy.num_labels, ctx.trainer_config, batch_size)
    return cap_by_rules(probs, pairs, ctx.policy) if ctx.config["labeling"]["enforce_rules"] else probs


def run(ctx: RunContext, role: str, trained_stage: str, stage: str) -> dict[str, Any]:
    model = ctx.load_model(role, ctx.config[role], trained_stage)
    tensors = {split: labels_of(ctx, role, model, ctx.pairs(split)) for split in LABELED_SPLITS}
    write_soft_labels(ctx.store, stage, tensors, ctx.policy, labeler=role)
    pool = tensors["pool"]
    return {
        "labeler": role,
        "policy_sha256": ctx.policy.sha256,
        "rules_enforced": bool(ctx.config["labeling"]["enforce_rules"]),
        "pool_pairs": int(pool.shape[0]),
        "pool_argmax_histogram": pool.argmax(-1).bincount(minlength=ctx.policy.num_labels).tolist(),
        "pool_mean_confidence": float(pool.max(-1).values.mean()),
    }


def labeled_items(ctx: RunContext, labels_stage: str) -> list[TrainItem]:
    """The pool and golden train with the labeler's soft labels, golden train with its human labels too."""
    soft = read_soft_labels(ctx.store, labels_stage, ctx.policy)
    items = []
    for split in LABELED_SPLITS:
        for pair, probs in zip(ctx.pairs(split), soft[split].tolist(), strict=True):
            golden = NO_LABEL if pair.label is None else int(pair.label)
            items.append(TrainItem(pair.request_text, pair.candidate_text, label=golden, teacher_probs=probs))
    return items
