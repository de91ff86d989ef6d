"""label: the teacher scores the unlabeled pool and golden train; soft labels go to disk.

The labels are probabilities over the policy's label scale, not an argmax: the
student learns the teacher's uncertainty too.
"""

from __future__ import annotations

from typing import Any

from stillroom.context import RunContext
from stillroom.scoring import predict_probs
from stillroom.stages import finetune

NAME = "label"
LABELED_SPLITS = ("pool", "train")
SOFT_LABELS_FILE = "soft_labels.safetensors"


def run(ctx: RunContext) -> dict[str, Any]:
    teacher = ctx.load_model("teacher", ctx.config["teacher"], finetune.NAME)
    batch_size = int(ctx.config["teacher"]["train"].get("eval_batch_size", 64))
    tensors = {}
    for split in LABELED_SPLITS:
        pairs = ctx.pairs(split)
        tensors[split] = predict_probs(teacher, pairs, ctx.policy.num_labels, ctx.trainer_config, batch_size)
    ctx.store.write_tensors(NAME, SOFT_LABELS_FILE, tensors)
    pool = tensors["pool"]
    histogram = pool.argmax(-1).bincount(minlength=ctx.policy.num_labels).tolist()
    return {
        "policy_sha256": ctx.policy.sha256,
        "pool_pairs": int(pool.shape[0]),
        "pool_argmax_histogram": histogram,
        "pool_mean_confidence": float(pool.max(-1).values.mean()),
    }
