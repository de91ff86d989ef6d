"""label (and judge_label, label_engagement): a trained model scores the unlabeled pool and golden train;
its soft labels go to disk.

Under a trainer of several processes (``trainer=ddp_cpu``) the batches are
shared out among them, each writes its shard, and the shards are merged by
row here (:func:`stillroom.training.scoring.predict_in_workers`): the same labels as
one process makes.

The labeler is the judge (stage ``judge_label``, for the teacher to learn
from), the relevance teacher (stage ``label``, for the student) or the
engagement teacher (stage ``label_engagement``). Where the labeler can return
its pooled representation of a pair, that is recorded too, for students that
learn it (``hidden_mse``). See :mod:`stillroom.stages.labeling` for how the labels
stay bound to the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from stillroom import engagement
from stillroom.stages.context import SCORES, RunContext
from stillroom.stages.contracts import Artifact, Stage, hidden_states, reads_model, soft_labels
from stillroom.stages.labeling import label_outputs, labelers, write_soft_labels
from stillroom.stages.training import LABELED_DATA, LABELED_SPLITS
from stillroom.training.scoring import has_hidden

NAME = "label"
STAGES = {"judge": "judge_label", "teacher": NAME, engagement.ROLE: "label_engagement"}
"""Each labeler's stage."""
GATE_STAGE = "gate"
"""The stage the recipe's first labeler must pass before it labels at scale."""


def labels(labeler: str) -> Artifact:
    return Artifact(soft_labels(labeler), "soft_labels.safetensors")


def hidden(labeler: str) -> Artifact:
    return Artifact(hidden_states(labeler), "hidden_states.safetensors", optional=True)


def declare(config: Mapping[str, Any]) -> list[Stage]:
    return [
        Stage(
            STAGES[labeler],
            partial(run, labeler=labeler),
            (*SCORES, labeler, "labeling.enforce_rules"),
            reads=(*reads_model(labeler), *LABELED_DATA),
            writes=(labels(labeler), hidden(labeler)),
            after=(GATE_STAGE,) if index == 0 else (),
        )
        for index, labeler in enumerate(labelers(config))
    ]


def run(ctx: RunContext, labeler: str) -> dict[str, Any]:
    role = ctx.plan.model(labeler).role
    model = ctx.load_model(labeler)
    with_hidden = has_hidden(model)
    outputs = {split: label_outputs(ctx, role, model, ctx.pairs(split), with_hidden, distributed=True) for split in LABELED_SPLITS}
    write_soft_labels(ctx.io, labels(labeler), {split: out["probs"] for split, out in outputs.items()}, ctx.policy, labeler=role)
    if with_hidden:
        ctx.io.write_tensors(hidden(labeler), {split: out["hidden"] for split, out in outputs.items()})
    pool = outputs["pool"]["probs"]
    return {
        "labeler": role,
        "policy_sha256": ctx.policy.sha256,
        "rules_enforced": ctx.config["labeling"]["enforce_rules"],
        "pool_pairs": int(pool.shape[0]),
        "pool_argmax_histogram": pool.argmax(-1).bincount(minlength=pool.shape[-1]).tolist(),
        "pool_mean_confidence": float(pool.max(-1).values.mean()),
        "hidden_width": int(outputs["pool"]["hidden"].shape[-1]) if with_hidden else None,
    }
