"""Labels at scale: a labeler's soft labels over the policy's scale, bound to the policy that made them.

Soft labels are probabilities over the label scale, not an argmax: the model
that learns from them learns the labeler's uncertainty too. Two things tie them
to the policy:

* with ``labeling.enforce_rules`` the policy's hard rules are applied to them:
  probability above a pair's cap moves onto the cap, so no model learns to
  rank a rule-breaking candidate from its labeler's mistakes;
* the file records the policy's sha256, and reading it under another policy is
  an error: labels made under one policy never train a model for another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from stillroom import engagement
from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.policy import Policy
from stillroom.ranker import Ranker
from stillroom.stages.context import RunContext
from stillroom.stages.contracts import Artifact
from stillroom.stages.stage_io import StageIO
from stillroom.training.scoring import predict

JUDGE = "judge"


def labelers(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The models that label at scale, in the order they label: the judge when the recipe has one (the teacher
    then learns its labels), the teacher, and the engagement teacher when the recipe has one. The first must pass
    the gate. The one place a recipe's labelers are decided."""
    return (*((JUDGE,) if config.get(JUDGE) else ()), "teacher", *((engagement.ROLE,) if config.get(engagement.ROLE) else ()))


POLICY_KEY = "policy_sha256"


def cap_by_rules(probs: torch.Tensor, pairs: Sequence[Pair], policy: Policy) -> torch.Tensor:
    """``probs`` with each pair's mass above its hard-rule cap moved onto the cap."""
    capped = probs.clone()
    for row, pair in enumerate(pairs):
        cap = policy.cap(policy.max_label, pair.request, pair.candidate)
        if cap < policy.max_label:
            capped[row, cap] += capped[row, cap + 1 :].sum()
            capped[row, cap + 1 :] = 0.0
    return capped


def write_soft_labels(io: StageIO, artifact: Artifact, labels: dict[str, torch.Tensor], policy: Policy, labeler: str) -> None:
    io.write_tensors(artifact, labels, metadata={POLICY_KEY: policy.sha256, "policy_version": policy.version, "labeler": labeler})


def read_soft_labels(io: StageIO, name: str, policy: Policy) -> dict[str, torch.Tensor]:
    """The soft labels artifact ``name``, refused when they were made under another policy."""
    made_under = io.read_tensor_metadata(name).get(POLICY_KEY)
    if made_under != policy.sha256:
        raise StillroomError(
            f"these labels were made under policy sha256 {made_under}, not this run's {policy.sha256}; "
            f"delete the {io.path(name).parent.name} folder or rerun the recipe to relabel",
            where=str(io.path(name)),
        )
    return io.read_tensors(name)


def label_outputs(
    ctx: RunContext, role: str, model: Ranker, pairs: Sequence[Pair], with_hidden: bool, distributed: bool = False
) -> dict[str, torch.Tensor]:
    """What the labeler ``role`` records for ``pairs``: its probabilities (capped by the rules if configured), and its
    pooled representations; with ``distributed``, scored on the trainer's processes (``trainer=ddp_cpu``)."""
    batch_size = ctx.config[role]["train"]["eval_batch_size"]
    out = predict(model, pairs, ctx.num_labels(role), ctx.trainer_config, batch_size, with_hidden=with_hidden, distributed=distributed)
    if ctx.config["labeling"]["enforce_rules"] and role != engagement.ROLE:  # the rules cap grades of relevance only
        out["probs"] = cap_by_rules(out["probs"], pairs, ctx.policy)
    return out


def labels_of(ctx: RunContext, role: str, model: Ranker, pairs: Sequence[Pair]) -> torch.Tensor:
    """The labels ``model`` gives ``pairs`` as the labeler ``role``: its probabilities, capped by the rules if configured."""
    return label_outputs(ctx, role, model, pairs, with_hidden=False)["probs"]
