"""label: a trained model scores the unlabeled pool and golden train; its soft labels go to disk.

Under a trainer of several processes (``trainer=ddp_cpu``) the batches are
shared out among them, each writes its shard, and the shards are merged by
row here (:func:`stillroom.scoring.predict_in_workers`): the same labels as
one process makes.

The labeler is the judge (stage ``judge_label``, for the teacher to learn
from), the relevance teacher (stage ``label``, for the student) or the
engagement teacher (stage ``label_engagement``). Where the labeler can return
its pooled representation of a pair, that is recorded too, for students that
learn it (``hidden_mse``). See :mod:`stillroom.labeling` for how the labels
stay bound to the policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from stillroom import engagement
from stillroom.context import RunContext
from stillroom.data import Pair
from stillroom.labeling import cap_by_rules, read_soft_labels, write_soft_labels
from stillroom.losses import NO_LABEL
from stillroom.ranker import Ranker
from stillroom.scoring import has_hidden, predict
from stillroom.training import TrainItem

NAME = "label"
JUDGE_NAME = "judge_label"
LABELED_SPLITS = ("pool", "train")
HIDDEN_FILE = "hidden_states.safetensors"


def label_outputs(
    ctx: RunContext, role: str, model: Ranker, pairs: Sequence[Pair], with_hidden: bool, distributed: bool = False
) -> dict[str, torch.Tensor]:
    """What the labeler ``role`` records for ``pairs``: its probabilities (capped by the rules if configured), and its
    pooled representations; with ``distributed``, scored on the trainer's processes (``trainer=ddp_cpu``)."""
    batch_size = int(ctx.config[role]["train"]["eval_batch_size"])
    out = predict(model, pairs, ctx.num_labels(role), ctx.trainer_config, batch_size, with_hidden=with_hidden, distributed=distributed)
    if ctx.config["labeling"]["enforce_rules"] and role != engagement.ROLE:  # the rules cap grades of relevance only
        out["probs"] = cap_by_rules(out["probs"], pairs, ctx.policy)
    return out


def labels_of(ctx: RunContext, role: str, model: Ranker, pairs: Sequence[Pair]) -> torch.Tensor:
    """The labels ``model`` gives ``pairs`` as the labeler ``role``: its probabilities, capped by the rules if configured."""
    return label_outputs(ctx, role, model, pairs, with_hidden=False)["probs"]


def run(ctx: RunContext, role: str, trained_stage: str, stage: str) -> dict[str, Any]:
    model = ctx.load_model(role, ctx.config[role], trained_stage)
    with_hidden = has_hidden(model)
    outputs = {split: label_outputs(ctx, role, model, ctx.pairs(split), with_hidden, distributed=True) for split in LABELED_SPLITS}
    write_soft_labels(ctx.store, stage, {split: out["probs"] for split, out in outputs.items()}, ctx.policy, labeler=role)
    if with_hidden:
        ctx.store.write_tensors(stage, HIDDEN_FILE, {split: out["hidden"] for split, out in outputs.items()})
    pool = outputs["pool"]["probs"]
    return {
        "labeler": role,
        "policy_sha256": ctx.policy.sha256,
        "rules_enforced": bool(ctx.config["labeling"]["enforce_rules"]),
        "pool_pairs": int(pool.shape[0]),
        "pool_argmax_histogram": pool.argmax(-1).bincount(minlength=pool.shape[-1]).tolist(),
        "pool_mean_confidence": float(pool.max(-1).values.mean()),
        "hidden_width": int(outputs["pool"]["hidden"].shape[-1]) if with_hidden else None,
    }


def labeled_items(ctx: RunContext, sources: Mapping[str, str]) -> list[TrainItem]:
    """The pool and golden train with every teacher's soft labels, golden train with its human labels too.

    ``sources`` maps each teacher objective (``"relevance"``, ``"engagement"``)
    to the stage whose labels it is; each teacher's labels stay in their own file.
    """
    soft = {objective: read_soft_labels(ctx.store, stage, ctx.policy) for objective, stage in sources.items()}
    hidden = {
        objective: ctx.store.read_tensors(stage, HIDDEN_FILE) for objective, stage in sources.items() if ctx.store.exists(stage, HIDDEN_FILE)
    }
    items = []
    for split in LABELED_SPLITS:
        for row, pair in enumerate(ctx.pairs(split)):
            items.append(
                TrainItem(
                    pair.request_text,
                    pair.candidate_text,
                    label=NO_LABEL if pair.label is None else int(pair.label),
                    targets={objective: labels[split][row] for objective, labels in soft.items()},
                    hidden={objective: states[split][row] for objective, states in hidden.items()},
                    request_id=pair.request_id,
                )
            )
    return items
