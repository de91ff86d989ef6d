"""Pruning heads and layers by importance, and the prune stage that distills the pruned student again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from stillroom.artifacts import ArtifactStore
from stillroom.config.schema import validate_config
from stillroom.plugins.models.cross_encoder import load_folder
from stillroom.plugins.models.pruning import apply_plan, head_importance, keep_heads, plan_pruning
from stillroom.ranker import BuildContext, load_model_state, model_state
from stillroom.recipe.job import run_job
from tests.helpers import build_with_plugins, compose_config

PRUNABLE = ("student.num_heads=2", "student.num_layers=2", "student.hidden_size=16")


def _student(*overrides: str):
    config = validate_config(compose_config("experiment=smoke", *PRUNABLE, *overrides))["student"]
    torch.manual_seed(0)
    return build_with_plugins("student", config, BuildContext(4)).eval()


def _features(model):
    return model.tokenize(["senior data engineer berlin", "junior nurse paris"], ["data engineer spark", "chef rome"])


def _loss_of(model):
    features = _features(model)
    return lambda: model(**features).logsumexp(-1).sum()


def test_a_head_that_contributes_nothing_has_no_importance() -> None:
    model = _student()
    layer = model.base_encoder().encoder.layer[0]
    size = layer.attention.self.attention_head_size
    with torch.no_grad():
        layer.attention.output.dense.weight[:, :size] = 0.0  # head 0's output goes nowhere
    importance = head_importance(model.base_encoder(), _loss_of(model))
    assert importance[0][0] == 0.0 and importance[0][1] > 0.0


def test_cutting_a_head_out_equals_silencing_it() -> None:
    model = _student()
    features = _features(model)
    layer = model.base_encoder().encoder.layer[1]
    size = layer.attention.self.attention_head_size
    with torch.no_grad():
        silenced = model.base_encoder()
        handle = layer.attention.self.register_forward_hook(lambda m, a, out: (out[0] * torch.tensor([0.0] * size + [1.0] * size), *out[1:]))
        expected = model(**features)
        handle.remove()
        keep_heads(silenced.encoder.layer[1], [1])
        assert layer.attention.self.query.out_features == size and layer.attention.output.dense.in_features == size
        assert torch.allclose(model(**features), expected, atol=1e-5)


def test_a_plan_keeps_the_requested_layers_and_heads_and_rebuilds_on_a_fresh_model(tmp_path: Path) -> None:
    model = _student()
    plan = model.prune(1, 1, _loss_of(model))
    assert len(plan["layers"]) == 1 and all(len(heads) == 1 for heads in plan["heads"].values())
    assert len(model.base_encoder().encoder.layer) == 1
    # A freshly built model takes the pruned weights once the plan is applied to it.
    fresh = _student()
    fresh.apply_pruning(json.loads(json.dumps(plan)))  # as read back from pruning.json
    save_file(model_state(model), str(tmp_path / "weights.safetensors"))
    load_model_state(fresh, tmp_path / "weights.safetensors")
    features = _features(model)
    with torch.no_grad():
        assert torch.allclose(fresh(**features), model(**features), atol=1e-6)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_an_exported_pruned_student_reloads_with_the_same_scores(tmp_path: Path, pooling: str) -> None:
    model = _student(f"+student.pooling={pooling}")
    model.prune(None, 1, _loss_of(model))
    model.save_pretrained(tmp_path)
    reloaded = load_folder(tmp_path)
    with torch.no_grad():
        assert torch.allclose(reloaded(**_features(reloaded)), model(**_features(model)), atol=1e-6)


def test_apply_plan_renumbers_kept_layers() -> None:
    encoder = _student().base_encoder()
    second = encoder.encoder.layer[1]
    apply_plan(encoder, {"layers": [1], "heads": {}})
    assert list(encoder.encoder.layer) == [second] and encoder.config.num_hidden_layers == 1


def test_plan_pruning_keeps_all_when_asked_for_more_than_there_is() -> None:
    model = _student()
    plan = plan_pruning(model.base_encoder(), keep_layers=5, keep_heads_per_layer=8, loss_of=_loss_of(model))
    assert plan["layers"] == [0, 1] and all(len(h) == 2 for h in plan["heads"].values())


@pytest.fixture(scope="module")
def pruned_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("pruned_run")
    run_job(compose_config("experiment=smoke", *PRUNABLE, "prune.enabled=true", "prune.keep_heads=1", "prune.keep_layers=1"), run_dir)
    return run_dir


@pytest.mark.slow
def test_the_report_shows_the_student_before_and_after_pruning(pruned_run: Path) -> None:
    report = json.loads((pruned_run / "report" / "report.json").read_text())
    before, after = report["models"]["student_before_pruning"], report["models"]["student"]
    assert after["params"] < before["params"]
    summary = ArtifactStore(pruned_run).completed_summary("prune")
    assert summary["layers_kept"] and summary["heads_kept"] == {str(summary["layers_kept"][0]): 1}
    assert "| student_before_pruning |" in (pruned_run / "report" / "report.md").read_text()


@pytest.mark.slow
def test_the_export_is_the_pruned_student(pruned_run: Path) -> None:
    exported = load_folder(pruned_run / "export" / "student")
    assert len(exported.base_encoder().encoder.layer) == 1
    assert sum(p.numel() for p in exported.parameters()) == json.loads((pruned_run / "report" / "report.json").read_text())["models"]["student"]["params"]
