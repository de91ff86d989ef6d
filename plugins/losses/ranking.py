"""Ranking terms: the candidates of one request against each other, as the teacher orders them.

Scores are expected grades in [0, 1] (the student's over its label scale, the
teacher's over its own), so a teacher of another scale, such as engagement,
can teach the student's order. ``temperature`` sets how sharply a score gap
turns into a preference.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from stillroom.losses import LossTerm
from stillroom.plugins.losses.targets import RELEVANCE, request_lists, student_score, teacher_score, teacher_targets, zero


def _scores(logits: torch.Tensor, batch: Mapping[str, Any], teacher: str) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    targets = teacher_targets(batch, teacher)
    lists = list(request_lists(batch["group"], targets["mask"]))
    return student_score(logits), teacher_score(targets["probs"]), lists


def _ordered_pairs(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    first, second = torch.triu_indices(rows.numel(), rows.numel(), offset=1)
    return rows[first], rows[second]


def listnet(temperature: float = 0.1, teacher: str = RELEVANCE) -> LossTerm:
    """Listwise KL (ListNet, Cao et al.): per request, KL between the teacher's and the student's
    softmax over the candidates' scores at ``temperature``; averaged over requests."""
    return partial(_listnet, t=float(temperature), teacher=teacher)


def _listnet(logits: torch.Tensor, batch: Mapping[str, Any], *, t: float, teacher: str) -> torch.Tensor:
    student, target, lists = _scores(logits, batch, teacher)
    if not lists:
        return zero(logits)
    values = []
    for rows in lists:
        p = torch.softmax(target[rows] / t, dim=0)
        values.append((p * (p.clamp_min(1e-12).log() - F.log_softmax(student[rows] / t, dim=0))).sum())
    return torch.stack(values).mean()


def ranknet(temperature: float = 0.1, teacher: str = RELEVANCE) -> LossTerm:
    """RankNet (Burges et al.) with the teacher's soft preferences: for every pair of a request's
    candidates, binary KL between sigma((t_i - t_j)/T) and sigma((s_i - s_j)/T); averaged over pairs.

    Written as a KL (cross-entropy minus the target's entropy), it is zero when
    the student orders as the teacher does, equal scores included.
    """
    return partial(_ranknet, t=float(temperature), teacher=teacher)


def _ranknet(logits: torch.Tensor, batch: Mapping[str, Any], *, t: float, teacher: str) -> torch.Tensor:
    student, target, lists = _scores(logits, batch, teacher)
    if not lists:
        return zero(logits)
    i, j = (torch.cat(side) for side in zip(*(_ordered_pairs(rows) for rows in lists), strict=True))
    prefer = torch.sigmoid((target[i] - target[j]) / t)
    predicted = (student[i] - student[j]) / t
    entropy = F.binary_cross_entropy(prefer, prefer, reduction="none")
    return (F.binary_cross_entropy_with_logits(predicted, prefer, reduction="none") - entropy).mean()


def margin_mse(teacher: str = RELEVANCE) -> LossTerm:
    """Margin-MSE (Hofstätter et al.): for every pair of a request's candidates the teacher ranks
    apart, the squared error between the student's signed margin (pos minus neg) and the teacher's.

    Pairs the teacher scores equal have no positive and are skipped.
    """
    return partial(_margin_mse, teacher=teacher)


def _margin_mse(logits: torch.Tensor, batch: Mapping[str, Any], *, teacher: str) -> torch.Tensor:
    student, target, lists = _scores(logits, batch, teacher)
    errors = []
    for rows in lists:
        i, j = _ordered_pairs(rows)
        gap = target[i] - target[j]
        apart = gap != 0
        # Oriented as positive minus negative, both margins flip sign together: the squared error is the same.
        errors.append((student[i][apart] - student[j][apart] - gap[apart]).pow(2))
    errors = [e for e in errors if e.numel()]
    return torch.cat(errors).mean() if errors else zero(logits)
