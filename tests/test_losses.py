"""Built-in loss terms against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from stillroom.errors import StillroomError
from stillroom.losses import available_losses, build_terms
from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.losses import hard_label_ce, soft_label_kl


def _batch(labels, teacher=None):
    n = len(labels)
    probs = torch.tensor(teacher if teacher is not None else [[0.0, 0.0]] * n, dtype=torch.float32)
    mask = torch.tensor([teacher is not None] * n)
    return {"labels": torch.tensor(labels), "teacher_probs": probs, "teacher_mask": mask}


def test_kl_is_zero_when_student_matches_teacher() -> None:
    logits = torch.tensor([[0.3, -1.2, 2.0]])
    teacher = torch.softmax(logits, -1).tolist()
    assert soft_label_kl()(logits, _batch([-1], teacher)).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_label_kl(temperature=3.0)(logits, _batch([-1], teacher)).item() == pytest.approx(0.0, abs=1e-6)


def test_kl_matches_hand_computation_with_t_squared() -> None:
    logits = torch.tensor([[0.0, 0.0]])  # student: (0.5, 0.5)
    teacher = [[0.8, 0.2]]
    expected = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)
    assert soft_label_kl()(logits, _batch([-1], teacher)).item() == pytest.approx(expected, rel=1e-5)
    # At T=2 the teacher is softened as softmax(log p / 2) and the KL is scaled by 4.
    soft = torch.softmax(torch.log(torch.tensor([0.8, 0.2])) / 2, -1)
    expected_t2 = 4 * float((soft * (soft / 0.5).log()).sum())
    assert soft_label_kl(temperature=2.0)(logits, _batch([-1], teacher)).item() == pytest.approx(expected_t2, rel=1e-5)


def test_kl_ignores_rows_without_teacher_labels() -> None:
    logits = torch.tensor([[5.0, -5.0]], requires_grad=True)
    value = soft_label_kl()(logits, _batch([1]))
    assert value.item() == 0.0
    value.backward()  # still part of the graph


def test_ce_matches_hand_computation_and_masks_unlabeled_rows() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert hard_label_ce()(logits, _batch([0, -1])).item() == pytest.approx(expected, rel=1e-6)
    assert hard_label_ce()(logits, _batch([-1, -1])).item() == 0.0


def test_unknown_loss_lists_the_known_ones() -> None:
    specs = available_losses(get_plugin_manager().hook.stillroom_losses())
    with pytest.raises(StillroomError, match="known losses: .*hard_label_ce.*soft_label_kl"):
        build_terms([{"name": "focal", "weight": 1.0}], specs)
    with pytest.raises(StillroomError, match="bad parameters"):
        build_terms([{"name": "soft_label_kl", "tempurature": 2.0}], specs)
    terms = build_terms([{"name": "soft_label_kl", "weight": 0.5, "temperature": 2.0}], specs)
    assert terms[0].weight == 0.5 and terms[0].needs_teacher
