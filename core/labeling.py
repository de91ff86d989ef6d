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

from collections.abc import Sequence

import torch

from stillroom.artifacts import ArtifactStore
from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.policy import Policy

SOFT_LABELS_FILE = "soft_labels.safetensors"
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


def write_soft_labels(store: ArtifactStore, stage: str, labels: dict[str, torch.Tensor], policy: Policy, labeler: str) -> None:
    store.write_tensors(stage, SOFT_LABELS_FILE, labels, metadata={POLICY_KEY: policy.sha256, "policy_version": policy.version, "labeler": labeler})


def read_soft_labels(store: ArtifactStore, stage: str, policy: Policy) -> dict[str, torch.Tensor]:
    """The soft labels ``stage`` wrote, refused when they were made under another policy."""
    made_under = store.read_tensor_metadata(stage, SOFT_LABELS_FILE).get(POLICY_KEY)
    if made_under != policy.sha256:
        raise StillroomError(
            f"these labels were made under policy sha256 {made_under}, not this run's {policy.sha256}; "
            f"delete the {stage} folder or rerun the recipe to relabel",
            where=str(store.path(stage, SOFT_LABELS_FILE)),
        )
    return store.read_tensors(stage, SOFT_LABELS_FILE)
