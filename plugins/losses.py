"""Built-in loss terms: soft-label KL from a teacher and cross-entropy on golden labels."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from stillroom import hookimpl
from stillroom.losses import LossSpec, LossTerm, hard_label_loss


def soft_label_kl(temperature: float = 1.0) -> LossTerm:
    """KL(teacher || student) over the label scale at ``temperature``, scaled by T^2 (Hinton et al.).

    Rows without teacher labels are ignored.
    """
    t = float(temperature)

    def term(logits: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        mask = batch["teacher_mask"]
        if not mask.any():
            return logits.sum() * 0.0
        teacher = batch["teacher_probs"][mask].float().clamp_min(1e-8)
        if t != 1.0:
            teacher = torch.softmax(teacher.log() / t, dim=-1)
        student = F.log_softmax(logits[mask].float() / t, dim=-1)
        return F.kl_div(student, teacher, reduction="batchmean") * t * t

    return term


def hard_label_ce(label_smoothing: float = 0.0) -> LossTerm:
    """Cross-entropy against the golden label; rows without one are ignored."""

    def term(logits: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return hard_label_loss(logits, batch["labels"], float(label_smoothing))

    return term


@hookimpl
def stillroom_losses() -> list[LossSpec]:
    return [
        LossSpec("soft_label_kl", soft_label_kl, needs_teacher=True, description="KL to the teacher's label distribution, T^2-scaled"),
        LossSpec("hard_label_ce", hard_label_ce, needs_teacher=False, description="cross-entropy on golden labels"),
    ]
