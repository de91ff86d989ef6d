"""Built-in loss terms against values computed by hand, edge cases included."""

from __future__ import annotations

import math

import pytest
import torch

from stillroom.errors import StillroomError
from stillroom.losses import HiddenWidths, available_losses, build_terms
from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.losses import HiddenStateMSE, hard_label_ce, listnet, logit_mse, margin_mse, ranknet, soft_label_kl


def _batch(labels=None, teacher=None, group=None, name="relevance", hidden=None, student_hidden=None):
    """A batch as the collator makes it; ``teacher`` is one probability row per pair (None: no teacher labels)."""
    n = len(teacher) if teacher is not None else len(labels)
    probs = torch.tensor(teacher if teacher is not None else [[0.5, 0.5]] * n, dtype=torch.float32)
    targets = {"probs": probs, "mask": torch.tensor([teacher is not None] * n)}
    if hidden is not None:
        targets["hidden"] = torch.tensor(hidden, dtype=torch.float32)
    batch = {
        "labels": torch.tensor(labels if labels is not None else [-1] * n),
        "group": torch.tensor(group if group is not None else [0] * n),
        "teachers": {name: targets},
    }
    if student_hidden is not None:
        batch["student_hidden"] = torch.tensor(student_hidden, dtype=torch.float32)
    return batch


def _logits_for(probs):
    """Student logits whose softmax is exactly ``probs``: the student identical to its teacher."""
    return torch.tensor(probs).log()


def _binary_kl(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# -- pointwise ---------------------------------------------------------------------


def test_kl_is_zero_when_student_matches_teacher() -> None:
    logits = torch.tensor([[0.3, -1.2, 2.0]])
    teacher = torch.softmax(logits, -1).tolist()
    assert soft_label_kl()(logits, _batch(teacher=teacher)).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_label_kl(temperature=3.0)(logits, _batch(teacher=teacher)).item() == pytest.approx(0.0, abs=1e-6)


def test_kl_matches_hand_computation_with_t_squared() -> None:
    logits = torch.tensor([[0.0, 0.0]])  # student: (0.5, 0.5)
    teacher = [[0.8, 0.2]]
    # T=1: no softening and a factor of 1.
    expected = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)
    assert soft_label_kl(temperature=1.0)(logits, _batch(teacher=teacher)).item() == pytest.approx(expected, rel=1e-5)
    # T=2: the teacher is softened as softmax(log p / 2) and the KL is scaled by 4.
    a, b = math.sqrt(0.8), math.sqrt(0.2)
    soft = (a / (a + b), b / (a + b))
    expected_t2 = 4 * (soft[0] * math.log(soft[0] / 0.5) + soft[1] * math.log(soft[1] / 0.5))
    assert soft_label_kl(temperature=2.0)(logits, _batch(teacher=teacher)).item() == pytest.approx(expected_t2, rel=1e-5)


def test_kl_weighted_by_teacher_confidence() -> None:
    logits = torch.zeros(2, 2)
    teacher = [[0.8, 0.2], [0.5, 0.5]]  # the second row's KL is zero; its confidence is 0.5
    first = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)
    assert soft_label_kl()(logits, _batch(teacher=teacher)).item() == pytest.approx(first / 2, rel=1e-5)
    weighted = soft_label_kl(confidence_weighting=True)(logits, _batch(teacher=teacher)).item()
    assert weighted == pytest.approx(0.8 * first / (0.8 + 0.5), rel=1e-5)


def test_kl_ignores_rows_without_teacher_labels() -> None:
    logits = torch.tensor([[5.0, -5.0]], requires_grad=True)
    value = soft_label_kl()(logits, _batch(labels=[1]))
    assert value.item() == 0.0
    value.backward()  # still part of the graph


def test_logit_mse_compares_centred_logits() -> None:
    # A uniform teacher has centred logits (0, 0, 0); the student's (1, 2, 3) centre to (-1, 0, 1).
    value = logit_mse()(torch.tensor([[1.0, 2.0, 3.0]]), _batch(teacher=[[1 / 3, 1 / 3, 1 / 3]]))
    assert value.item() == pytest.approx(2 / 3, rel=1e-5)
    # The student's logits equal the teacher's up to a constant: nothing to learn.
    probs = [[0.7, 0.2, 0.1]]
    assert logit_mse()(_logits_for(probs) + 5.0, _batch(teacher=probs)).item() == pytest.approx(0.0, abs=1e-6)


def test_pointwise_terms_refuse_a_teacher_on_another_scale() -> None:
    with pytest.raises(StillroomError, match="3-grade scale and the student on 2"):
        soft_label_kl()(torch.zeros(1, 2), _batch(teacher=[[0.2, 0.3, 0.5]]))


def test_ce_matches_hand_computation_and_masks_unlabeled_rows() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert hard_label_ce()(logits, _batch(labels=[0, -1])).item() == pytest.approx(expected, rel=1e-6)
    assert hard_label_ce()(logits, _batch(labels=[-1, -1])).item() == 0.0


def test_a_term_naming_a_missing_teacher_says_which_exist() -> None:
    with pytest.raises(StillroomError, match="teacher 'engagement'.*teachers: relevance"):
        soft_label_kl(teacher="engagement")(torch.zeros(1, 2), _batch(teacher=[[0.5, 0.5]]))


# -- ranking over a request's candidates -----------------------------------------------
# Two-grade scales: a probability row (1 - p, p) has the expected grade p, so scores are easy to set.


def test_listnet_matches_hand_computation_at_t_1() -> None:
    teacher = [[1.0, 0.0], [0.0, 1.0]]  # teacher scores (0, 1)
    value = listnet(temperature=1.0)(torch.zeros(2, 2), _batch(teacher=teacher))  # student scores (0.5, 0.5)
    p = (1 / (1 + math.e), math.e / (1 + math.e))
    assert value.item() == pytest.approx(p[0] * math.log(p[0] / 0.5) + p[1] * math.log(p[1] / 0.5), rel=1e-5)


def test_listnet_averages_over_requests_and_skips_single_candidate_lists() -> None:
    teacher = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.3, 0.7]]
    one = listnet(temperature=1.0)(torch.zeros(2, 2), _batch(teacher=teacher[:2])).item()
    both = listnet(temperature=1.0)(torch.zeros(5, 2), _batch(teacher=teacher, group=[0, 0, 1, 1, 2])).item()
    assert both == pytest.approx(one, rel=1e-5)  # requests 0 and 1 are the same list; request 2 has one candidate
    assert listnet()(torch.zeros(1, 2), _batch(teacher=[[0.3, 0.7]])).item() == 0.0


def test_listnet_is_zero_for_equal_scores_and_for_an_identical_student() -> None:
    assert listnet()(torch.zeros(3, 2), _batch(teacher=[[0.5, 0.5]] * 3)).item() == pytest.approx(0.0, abs=1e-6)
    teacher = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    assert listnet()(_logits_for(teacher), _batch(teacher=teacher)).item() == pytest.approx(0.0, abs=1e-6)


def test_ranknet_matches_hand_computation_at_t_1() -> None:
    teacher = [[1.0, 0.0], [0.0, 1.0]]  # teacher prefers the first over the second with sigma(0 - 1)
    value = ranknet(temperature=1.0)(torch.zeros(2, 2), _batch(teacher=teacher))  # student: no preference
    assert value.item() == pytest.approx(_binary_kl(_sigmoid(-1.0), 0.5), rel=1e-5)


def test_ranknet_averages_over_every_pair_of_a_list() -> None:
    teacher = [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]  # scores (0, 0.5, 1): pairs differ by -0.5, -1, -0.5
    value = ranknet(temperature=1.0)(torch.zeros(3, 2), _batch(teacher=teacher)).item()
    expected = (2 * _binary_kl(_sigmoid(-0.5), 0.5) + _binary_kl(_sigmoid(-1.0), 0.5)) / 3
    assert value == pytest.approx(expected, rel=1e-5)


def test_ranknet_edge_cases_are_zero() -> None:
    assert ranknet()(torch.zeros(2, 2), _batch(teacher=[[0.5, 0.5]] * 2)).item() == pytest.approx(0.0, abs=1e-6)
    teacher = [[0.9, 0.1], [0.2, 0.8]]
    assert ranknet()(_logits_for(teacher), _batch(teacher=teacher)).item() == pytest.approx(0.0, abs=1e-6)
    assert ranknet()(torch.zeros(1, 2), _batch(teacher=[[0.3, 0.7]])).item() == 0.0


def test_margin_mse_matches_hand_computation() -> None:
    teacher = [[1.0, 0.0], [0.0, 1.0]]  # teacher margin, positive minus negative: 1 - 0 = 1
    student = _logits_for([[0.75, 0.25], [0.25, 0.75]])  # student margin: 0.75 - 0.25 = 0.5
    assert margin_mse()(student, _batch(teacher=teacher)).item() == pytest.approx(0.25, rel=1e-5)


def test_margin_mse_skips_pairs_the_teacher_scores_equal() -> None:
    teacher = [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]  # the last two tie: only pairs (0,1) and (0,2) count
    value = margin_mse()(torch.zeros(3, 2), _batch(teacher=teacher))  # student margins 0; teacher's 1 and 1
    assert value.item() == pytest.approx(1.0, rel=1e-5)
    assert margin_mse()(torch.zeros(2, 2), _batch(teacher=[[0.5, 0.5]] * 2)).item() == 0.0
    assert margin_mse()(torch.zeros(1, 2), _batch(teacher=[[0.3, 0.7]])).item() == 0.0
    identical = [[0.9, 0.1], [0.2, 0.8]]
    assert margin_mse()(_logits_for(identical), _batch(teacher=identical)).item() == pytest.approx(0.0, abs=1e-6)


def test_ranking_terms_learn_from_a_teacher_on_another_scale() -> None:
    # A three-grade engagement teacher: (0, 1, 0) is grade 1 of 2, a score of 0.5.
    batch = _batch(teacher=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], name="engagement")
    value = margin_mse(teacher="engagement")(_logits_for([[0.75, 0.25], [0.25, 0.75]]), batch)
    assert value.item() == pytest.approx(0.0, abs=1e-6)  # student margin 0.5 = teacher margin 0.5


# -- hidden states ---------------------------------------------------------------------


def test_hidden_mse_through_a_set_projection() -> None:
    term = HiddenStateMSE(student_width=2, teacher_width=3)
    with torch.no_grad():
        term.projection.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    batch = _batch(teacher=[[0.5, 0.5]], hidden=[[1.0, 2.0, 4.0]], student_hidden=[[1.0, 2.0]])
    value = term(torch.zeros(1, 2), batch)  # projected (1, 2, 3) against (1, 2, 4)
    assert value.item() == pytest.approx(1 / 3, rel=1e-5)
    value.backward()
    assert term.projection.weight.grad is not None and term.projection.weight.grad.abs().sum() > 0


def test_hidden_mse_is_zero_for_an_identical_student_at_equal_width() -> None:
    term = HiddenStateMSE(student_width=3, teacher_width=3)
    batch = _batch(teacher=[[0.5, 0.5]], hidden=[[0.1, -2.0, 3.0]], student_hidden=[[0.1, -2.0, 3.0]])
    assert term(torch.zeros(1, 2), batch).item() == pytest.approx(0.0, abs=1e-7)


def test_hidden_mse_without_recorded_states_says_what_is_missing() -> None:
    with pytest.raises(StillroomError, match="forward_with_hidden"):
        HiddenStateMSE(2, 2)(torch.zeros(1, 2), _batch(teacher=[[0.5, 0.5]]))


# -- selecting and weighting terms -------------------------------------------------------


def _specs():
    return available_losses(get_plugin_manager())


def test_every_loss_of_the_issue_is_contributed() -> None:
    assert {"soft_label_kl", "logit_mse", "margin_mse", "listnet", "ranknet", "hard_label_ce", "hidden_mse"} <= set(_specs())


def test_unknown_loss_lists_the_known_ones() -> None:
    specs = _specs()
    with pytest.raises(StillroomError, match="known losses: .*hard_label_ce.*soft_label_kl"):
        build_terms({"focal": {"weight": 1.0}}, specs)
    with pytest.raises(StillroomError, match="bad parameters"):
        build_terms({"soft_label_kl": {"weight": 1.0, "tempurature": 2.0}}, specs)
    terms = build_terms({"soft_label_kl": {"weight": 0.5, "temperature": 2.0}}, specs)
    assert terms[0].weight == 0.5 and terms[0].needs_teacher


def test_hidden_terms_get_the_widths_of_their_teacher() -> None:
    specs = _specs()
    # Checked before any model exists: parameters are validated, the term refuses to run.
    with pytest.raises(StillroomError, match="bad parameters"):
        build_terms({"hidden_mse": {"weight": 1.0, "colour": 1}}, specs)
    unbuilt = build_terms({"hidden_mse": {"weight": 1.0}}, specs)[0]
    with pytest.raises(RuntimeError, match="check its parameters only"):
        unbuilt.term(torch.zeros(1, 2), _batch(teacher=[[0.5, 0.5]]))
    built = build_terms({"hidden_mse": {"weight": 1.0}}, specs, HiddenWidths(student=8, teachers={"relevance": 32}))[0]
    assert built.term.projection.weight.shape == (32, 8)
    with pytest.raises(StillroomError, match="teacher 'engagement', which were not recorded"):
        build_terms({"hidden_mse": {"weight": 1.0, "teacher": "engagement"}}, specs, HiddenWidths(8, {"relevance": 32}))


def test_terms_are_keyed_by_name_a_null_term_is_off_and_a_loss_can_serve_two_terms() -> None:
    specs = _specs()
    config = {
        "soft_label_kl": {"weight": 1.0, "temperature": 2.0},
        "kl_engagement": {"loss": "soft_label_kl", "weight": 0.5, "teacher": "engagement"},
        "hidden_mse": None,
        "hard_label_ce": {"weight": 0.1},
    }
    terms = build_terms(config, specs, where="loss.distill")
    assert [(t.name, t.weight) for t in terms] == [("soft_label_kl", 1.0), ("kl_engagement", 0.5), ("hard_label_ce", 0.1)]
    with pytest.raises(StillroomError, match="unknown loss 'focal'") as error:
        build_terms({"focal": {"weight": 1.0}}, specs, where="loss.distill")
    assert error.value.where == "loss.distill.focal"


def test_a_list_of_terms_or_a_term_without_a_weight_says_what_is_expected() -> None:
    with pytest.raises(StillroomError, match="keyed by name") as error:
        build_terms([{"name": "hard_label_ce"}], _specs(), where="loss.finetune")
    assert error.value.where == "loss.finetune"
    with pytest.raises(StillroomError, match="with its weight") as error:
        build_terms({"hard_label_ce": {"label_smoothing": 0.1}}, _specs(), where="loss.finetune")
    assert error.value.where == "loss.finetune.hard_label_ce"


def test_a_sweep_reaches_a_term_by_name_whatever_the_order_of_the_file() -> None:
    from stillroom.config.schema import validate_config
    from tests.helpers import compose_config

    config = validate_config(compose_config("loss.distill.hard_label_ce.weight=0.3", "loss.distill.hidden_mse=null"))
    assert config["loss"]["distill"]["hard_label_ce"] == {"weight": 0.3}
    assert [t.name for t in build_terms(config["loss"]["distill"], _specs())] == ["soft_label_kl", "hard_label_ce"]
