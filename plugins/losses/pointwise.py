"""Pointwise terms: each pair on its own, against a teacher's distribution or the golden label."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from stillroom.errors import StillroomError
from stillroom.losses import LossTerm, hard_label_loss
from stillroom.plugins.losses.targets import RELEVANCE, confidence, teacher_targets, weighted_mean, zero


def _labeled_rows(logits: torch.Tensor, batch: Mapping[str, Any], teacher: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The student's logits and the teacher's probabilities on the rows that teacher labeled; ``None`` if none."""
    targets = teacher_targets(batch, teacher)
    mask = targets["mask"]
    if not mask.any():
        return None
    probs = targets["probs"][mask].float()
    if logits.shape[-1] != probs.shape[-1]:
        raise StillroomError(
            f"teacher {teacher!r} labels on a {probs.shape[-1]}-grade scale and the student on {logits.shape[-1]}; "
            "a pointwise term needs the same scale (a ranking term such as listnet compares any two scales)",
            where="loss",
        )
    return logits[mask].float(), probs


def soft_label_kl(temperature: float = 1.0, teacher: str = RELEVANCE, confidence_weighting: bool = False) -> LossTerm:
    """KL(teacher || student) over the label scale at ``temperature``, scaled by T^2 (Hinton et al.).

    Both distributions are softened at T (the teacher's as ``softmax(log p / T)``);
    the T^2 factor keeps the gradients' size independent of T. With
    ``confidence_weighting`` each row counts in proportion to the teacher's
    confidence in it. Rows the teacher did not label are ignored.
    """
    return partial(_soft_label_kl, t=float(temperature), teacher=teacher, confidence_weighting=confidence_weighting)


def _soft_label_kl(logits: torch.Tensor, batch: Mapping[str, Any], *, t: float, teacher: str, confidence_weighting: bool) -> torch.Tensor:
    rows = _labeled_rows(logits, batch, teacher)
    if rows is None:
        return zero(logits)
    student_logits, probs = rows
    target = torch.softmax(probs.clamp_min(1e-8).log() / t, dim=-1)
    student = F.log_softmax(student_logits / t, dim=-1)
    per_row = (target * (target.clamp_min(1e-12).log() - student)).sum(-1) * t * t
    return weighted_mean(per_row, confidence(probs) if confidence_weighting else None)


def logit_mse(teacher: str = RELEVANCE, confidence_weighting: bool = False) -> LossTerm:
    """Mean squared error between the student's logits and the teacher's (Ba & Caruana).

    Logits are defined up to a constant per row (softmax ignores it), so both
    sides are centred first; the teacher's logits are its log-probabilities.
    """
    return partial(_logit_mse, teacher=teacher, confidence_weighting=confidence_weighting)


def _logit_mse(logits: torch.Tensor, batch: Mapping[str, Any], *, teacher: str, confidence_weighting: bool) -> torch.Tensor:
    rows = _labeled_rows(logits, batch, teacher)
    if rows is None:
        return zero(logits)
    student_logits, probs = rows
    teacher_logits = probs.clamp_min(1e-8).log()
    centred = (student_logits - student_logits.mean(-1, keepdim=True)) - (teacher_logits - teacher_logits.mean(-1, keepdim=True))
    per_row = centred.pow(2).mean(-1)
    return weighted_mean(per_row, confidence(probs) if confidence_weighting else None)


def hard_label_ce(label_smoothing: float = 0.0) -> LossTerm:
    """Cross-entropy against the golden label; rows without one are ignored."""
    return partial(_hard_label_ce, label_smoothing=float(label_smoothing))


def _hard_label_ce(logits: torch.Tensor, batch: Mapping[str, Any], *, label_smoothing: float) -> torch.Tensor:
    return hard_label_loss(logits, batch["labels"], float(label_smoothing))
