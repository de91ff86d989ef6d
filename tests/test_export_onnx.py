"""The student exported to ONNX: it scores as torch does, `stillroom score` runs either, and a model that cannot be traced is named."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from stillroom.errors import StillroomError
from stillroom.plugins.models.late_interaction import LateInteractionRanker
from stillroom.plugins.models.transformers_families import EXPORTED_FOLDERS
from stillroom.plugins.models.two_tower import TwoTowerRanker
from stillroom.serving.onnx import ONNX_FILE, export_onnx
from tests.helpers import build_late_interaction, late_interaction_config, run_cli

TOLERANCE = 1e-4


def _score(model: Path, pairs: Path, out: Path, backend: str) -> list[dict]:
    assert run_cli(["score", "--model", str(model), "--input", str(pairs), "--output", str(out), "--backend", backend]) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_the_export_stage_checks_its_onnx_file_against_torch_on_golden_test(smoke_run: Path) -> None:
    folder = smoke_run / "export" / "student"
    recorded = json.loads((smoke_run / "export" / "_complete.json").read_text())["summary"]["onnx"]
    assert (folder / ONNX_FILE).is_file() and recorded["file"] == ONNX_FILE
    assert recorded["pairs"] == len((smoke_run / "prepare" / "test.jsonl").read_text().splitlines())
    assert recorded["max_abs_score_diff"] <= recorded["tolerance"] == TOLERANCE


@pytest.mark.slow
def test_the_default_student_scores_golden_test_the_same_in_onnxruntime_and_torch(
    smoke_run: Path, tiny_encoder_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A late-interaction student, through `stillroom score`: torch serves it from its candidate cache, ONNX computes
    every pair straight through. Its weights are drawn wide enough that its scores spread out (agreeing then says
    something), and not so wide that every pair gets the top grade."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    model = tmp_path / "student"
    student = build_late_interaction(late_interaction_config(tiny_encoder_folder)).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in student.parameters():
            if parameter.requires_grad:
                parameter.normal_(0.0, 0.2)
    student.save_pretrained(model)
    assert export_onnx(student, model / ONNX_FILE) == ["request_ids", "request_mask", "candidate_ids", "candidate_mask"]
    golden_test = smoke_run / "prepare" / "test.jsonl"
    inputs = [json.loads(line) for line in golden_test.read_text(encoding="utf-8").splitlines()]
    scored = {backend: _score(model, golden_test, tmp_path / f"{backend}.jsonl", backend) for backend in ("torch", "onnxruntime")}

    for backend, rows in scored.items():
        assert [{k: v for k, v in row.items() if k not in ("score", "probs")} for row in rows] == inputs, backend  # rows kept, in order
        assert all(abs(sum(row["probs"]) - 1) < 1e-5 and 0 <= row["score"] <= 1 for row in rows)
    torch_scores = torch.tensor([row["score"] for row in scored["torch"]])
    onnx_scores = torch.tensor([row["score"] for row in scored["onnxruntime"]])
    assert torch_scores.std() > 10 * TOLERANCE
    assert (torch_scores - onnx_scores).abs().max() <= TOLERANCE


def test_onnxruntime_without_model_onnx_says_how_to_get_one(smoke_run: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    model = shutil.copytree(smoke_run / "export" / "student", tmp_path / "student", ignore=shutil.ignore_patterns(ONNX_FILE))
    golden_test = smoke_run / "prepare" / "test.jsonl"
    assert run_cli(["score", "--model", str(model), "--input", str(golden_test), "--output", str(tmp_path / "out.jsonl")]) == 2
    assert "no model.onnx here; export with export.onnx=true, or score with --backend torch" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


class DataDependent(torch.nn.Module):
    """A ranker whose forward branches on its input's values in Python: torch.export cannot trace that."""

    num_labels = 2

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(1, 2)

    def tokenize(self, requests: list[str], candidates: list[str]) -> dict[str, torch.Tensor]:
        return {"lengths": torch.tensor([[float(len(r) + len(c))] for r, c in zip(requests, candidates, strict=True)])}

    def forward(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(lengths) if float(lengths.sum()) > 0 else self.head(-lengths)


def test_a_student_that_cannot_be_traced_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(StillroomError, match=r"could not be traced to ONNX .*set export.onnx=false") as error:
        export_onnx(DataDependent(), tmp_path / ONNX_FILE)
    assert error.value.where == "export.onnx"
    assert list(tmp_path.iterdir()) == []


def test_each_exported_folder_is_recognised_by_the_settings_file_its_family_writes() -> None:
    marker_of = {loader: marker for marker, (_, loader) in EXPORTED_FOLDERS.items()}
    assert marker_of["load_late_interaction_folder"] == LateInteractionRanker.config_file
    assert marker_of["load_two_tower_folder"] == TwoTowerRanker.config_file
    from stillroom.plugins.models.cross_encoder import STILLROOM_CONFIG_FILE

    assert marker_of["load_folder"] == STILLROOM_CONFIG_FILE


@pytest.mark.slow
def test_a_student_reading_the_first_stage_score_is_served_with_it_by_torch_and_onnxruntime_alike(
    tiny_encoder_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`stillroom score` normalises each request's first_stage_score as training did; ONNX takes it as an input."""
    from stillroom.plugins.models import hf_builders
    from stillroom.ranker import BuildContext

    monkeypatch.setattr(sys, "argv", list(sys.argv))
    config = {"pretrained": str(tiny_encoder_folder), "tokenizer": str(tiny_encoder_folder), "max_length": 32, "adapter_hidden": 16}
    student = hf_builders.build_bi_encoder({**config, "features": ["first_stage_score"]}, BuildContext(4), "student").eval()
    with torch.no_grad():
        student.feature_weights.weight.fill_(0.3)
    model = tmp_path / "student"
    student.save_pretrained(model)
    assert export_onnx(student, model / ONNX_FILE)[-1] == "pair_features"
    rows = [
        {"request_id": f"q{q}", "request_text": text, "candidate_text": doc, "first_stage_score": score}
        for q, text in enumerate(["spark joins", "night nursing"])
        for doc, score in [("apache spark joins", 9.0), ("nursing care plans", 4.0), ("sourdough starter", 1.0)]
    ]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    scored = {backend: _score(model, pairs, tmp_path / f"{backend}.jsonl", backend) for backend in ("torch", "onnxruntime")}
    torch_scores = torch.tensor([row["score"] for row in scored["torch"]])
    assert (torch_scores - torch.tensor([row["score"] for row in scored["onnxruntime"]])).abs().max() <= TOLERANCE
    flipped = tmp_path / "flipped.jsonl"
    flipped.write_text("".join(json.dumps({**row, "first_stage_score": 10.0 - row["first_stage_score"]}) + "\n" for row in rows), encoding="utf-8")
    assert not torch.allclose(torch.tensor([row["score"] for row in _score(model, flipped, tmp_path / "f.jsonl", "torch")]), torch_scores)
    bare = tmp_path / "bare.jsonl"
    bare.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "first_stage_score"}) + "\n" for row in rows), encoding="utf-8")
    with caplog.at_level("WARNING"):
        _score(model, bare, tmp_path / "b.jsonl", "torch")
    assert "this model reads the first stage's score, and no row has first_stage_score" in caplog.text


def test_scored_with_the_policy_each_row_says_how_a_service_applying_its_rules_lists_it(smoke_run: Path, tmp_path: Path) -> None:
    from stillroom.plugin_manager import get_plugin_manager
    from stillroom.policy.source import load_policy

    policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
    golden_test = smoke_run / "prepare" / "test.jsonl"
    out = tmp_path / "served.jsonl"
    argv = ["score", "--model", str(smoke_run / "export" / "student"), "--input", str(golden_test), "--output", str(out)]
    assert run_cli([*argv, "--backend", "torch", "--policy", "stillroom.products.jobs:policy.md"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        broken = [rule.id for rule in policy.rules_broken(row["request"], row["candidate"])]
        assert row["breaks"] == broken and row["served"] == ("demoted" if broken else "listed")  # the jobs policy filters nothing
        assert row["served_score"] == (row["score"] - 2.0 if broken else row["score"])
    assert {row["served"] for row in rows} == {"listed", "demoted"}  # golden test has both, so the check above says something
