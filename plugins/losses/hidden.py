"""Hidden-state MSE: the student's pooled representation, projected to the teacher's width, against the teacher's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from stillroom.errors import StillroomError
from stillroom.plugins.losses.targets import RELEVANCE, teacher_targets, zero


class HiddenStateMSE(torch.nn.Module):
    """MSE between ``W h_student`` and ``h_teacher`` for the rows the teacher labeled (FitNets, TinyBERT).

    ``W`` is learned with the student, since a narrower student's dimensions do
    not line up with the teacher's; at equal widths it starts as the identity,
    so a student that already matches its teacher costs nothing.
    """

    def __init__(self, student_width: int, teacher_width: int, teacher: str = RELEVANCE) -> None:
        super().__init__()
        self.teacher = teacher
        self.projection = torch.nn.Linear(student_width, teacher_width, bias=False)
        if student_width == teacher_width:
            with torch.no_grad():
                self.projection.weight.copy_(torch.eye(teacher_width))

    def forward(self, logits: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        targets = teacher_targets(batch, self.teacher)
        if "hidden" not in targets or "student_hidden" not in batch:
            raise StillroomError(
                f"hidden_mse needs the hidden states of teacher {self.teacher!r} and of the student; "
                "both models must be able to return them (forward_with_hidden)",
                where="loss",
            )
        mask = targets["mask"]
        if not mask.any():
            return zero(logits)
        return F.mse_loss(self.projection(batch["student_hidden"][mask].float()), targets["hidden"][mask].float())
