"""Two teachers: a relevance teacher from the policy labels and an engagement teacher from the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillroom.artifacts import ArtifactStore
from stillroom.engagement import engagement_grades, graded_pairs
from stillroom.errors import StillroomError
from stillroom.recipe.job import run_job
from tests.helpers import compose_config

EVENTS = ["viewed", "applied"]


@pytest.fixture(scope="module")
def multi_teacher_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("multi_teacher")
    run_job(compose_config("experiment=smoke", "engagement_teacher=tiny", "loss=multi_teacher", "trainer.log_every_n_steps=1"), run_dir)
    return run_dir


def test_the_grade_is_the_strongest_event_that_happened() -> None:
    rows = [
        {"request_id": "m", "candidate_id": "a", "viewed": False, "applied": False},
        {"request_id": "m", "candidate_id": "b", "viewed": True, "applied": False},
        {"request_id": "m", "candidate_id": "c", "viewed": True, "applied": True},
    ]
    assert engagement_grades(rows, EVENTS, "log") == {("m", "a"): 0, ("m", "b"): 1, ("m", "c"): 2}


def test_a_log_row_without_an_event_names_the_row_and_what_was_expected() -> None:
    with pytest.raises(StillroomError, match="row 2 lacks applied; expected request_id, candidate_id, viewed, applied"):
        rows = [{"request_id": "m", "candidate_id": "a", "viewed": 1, "applied": 0}, {"request_id": "m", "candidate_id": "b", "viewed": 1}]
        engagement_grades(rows, EVENTS, "log.jsonl")
    with pytest.raises(StillroomError, match="engagement events"):
        engagement_grades([], [], "log.jsonl")


def test_only_logged_pairs_get_a_grade() -> None:
    from stillroom.data import Pair

    pairs = [Pair("m:a", "m", "a", "r", "a"), Pair("m:z", "m", "z", "r", "z")]
    assert [(p.candidate_id, g) for p, g in graded_pairs(pairs, {("m", "a"): 2})] == [("a", 2)]


@pytest.mark.slow
def test_each_teacher_labels_into_its_own_file_on_its_own_scale(multi_teacher_run: Path) -> None:
    store = ArtifactStore(multi_teacher_run)
    relevance = store.read_tensors("label", "soft_labels.safetensors")
    engagement = store.read_tensors("label_engagement", "soft_labels.safetensors")
    assert relevance["pool"].shape[-1] == 4 and engagement["pool"].shape[-1] == 3  # none, viewed, applied
    assert relevance["pool"].shape[0] == engagement["pool"].shape[0]
    assert store.read_tensor_metadata("label_engagement", "soft_labels.safetensors")["labeler"] == "engagement_teacher"


@pytest.mark.slow
def test_the_student_learns_from_both_teachers_at_once(multi_teacher_run: Path) -> None:
    rows = [json.loads(line) for line in (multi_teacher_run / "distill" / "history.jsonl").read_text().splitlines()]
    logged = {key for row in rows for key in row}
    assert {"train/soft_label_kl", "train/listnet", "train/hard_label_ce"} <= logged
    assert any(row.get("train/listnet", 0.0) > 0.0 for row in rows)


@pytest.mark.slow
def test_the_report_ranks_the_engagement_teacher_by_its_expected_grade(multi_teacher_run: Path) -> None:
    report = json.loads((multi_teacher_run / "report" / "report.json").read_text())
    row = report["models"]["engagement_teacher"]
    assert 0.0 <= row["metrics"]["ndcg@10"] <= 1.0 and "kappa" not in row["metrics"]


def test_a_loss_reading_a_teacher_the_recipe_lacks_fails_before_training(tmp_path: Path) -> None:
    with pytest.raises(StillroomError, match="teacher 'engagement', which this recipe does not have.*engagement_teacher=NAME") as error:
        run_job(compose_config("experiment=smoke", "loss=multi_teacher"), tmp_path / "run")
    assert error.value.where == "loss.distill.listnet.teacher"
    assert not (tmp_path / "run" / "finetune").exists()
