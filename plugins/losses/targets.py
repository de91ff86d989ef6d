"""What the built-in loss terms read from a batch: a teacher's targets, ranking scores, request lists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from stillroom.errors import StillroomError
from stillroom.losses import RELEVANCE
from stillroom.ranker import expected_grade

__all__ = ["RELEVANCE", "confidence", "request_lists", "student_score", "teacher_score", "teacher_targets", "weighted_mean", "zero"]


def teacher_targets(batch: Mapping[str, Any], teacher: str) -> Mapping[str, torch.Tensor]:
    """The ``probs``, ``mask`` (and ``hidden``, where recorded) of ``teacher``, or a clear error."""
    teachers = batch.get("teachers", {})
    if teacher not in teachers:
        known = ", ".join(sorted(teachers)) or "none"
        raise StillroomError(f"a loss term reads teacher {teacher!r}, but this training data has teachers: {known}", where="loss")
    return teachers[teacher]


def student_score(logits: torch.Tensor) -> torch.Tensor:
    """The student's ranking score: its expected grade in [0, 1], as the evaluators rank."""
    return expected_grade(torch.softmax(logits.float(), dim=-1))


def teacher_score(probs: torch.Tensor) -> torch.Tensor:
    """A teacher's ranking score on its own scale, mapped to [0, 1], so teachers of any scale compare."""
    return expected_grade(probs.float())


def confidence(probs: torch.Tensor) -> torch.Tensor:
    """How sure a teacher is of a row: the probability of its most likely label."""
    return probs.max(dim=-1).values


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return values.mean()
    return (values * weights).sum() / weights.sum().clamp_min(1e-8)


def request_lists(group: torch.Tensor, mask: torch.Tensor) -> Iterator[torch.Tensor]:
    """Row indices of each request's labeled candidates in the batch, for requests with two or more."""
    for request in group[mask].unique():
        rows = ((group == request) & mask).nonzero().squeeze(1)
        if rows.numel() >= 2:
            yield rows


def zero(logits: torch.Tensor) -> torch.Tensor:
    """A zero that stays in the autograd graph, for a batch that gives a term nothing to compare."""
    return logits.sum() * 0.0
