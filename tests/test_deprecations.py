"""CHANGELOG.md's deprecations, one test each: what a plugin, a config or a script of the previous API uses still works
in 0.2.0 with a warning that says what to write instead, and stops with the same words from 0.3.0 on."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch

from stillroom import hookimpl
from stillroom.config.renamed import renamed_overrides
from stillroom.data import DataBundle, Pair, read_data_source
from stillroom.deprecation import REMOVED_IN, removed
from stillroom.errors import StillroomDeprecationWarning, StillroomError
from stillroom.plugin_manager import get_plugin_manager, hookimpl_problems
from stillroom.policy.source import load_policy
from stillroom.ranker import BuildContext, available_models
from stillroom.testing import registered
from tests.helpers import compose_config

CHANGELOG = Path(__file__).resolve().parents[1] / "CHANGELOG.md"
MOVED_MODULES = {
    "stillroom.recipe.artifacts": ("stillroom.artifacts", "ArtifactStore"),
    "stillroom.recipe.context": ("stillroom.stages.context", "RunContext"),
    "stillroom.recipe.contracts": ("stillroom.stages.contracts", "Stage"),
    "stillroom.recipe.stage_io": ("stillroom.stages.stage_io", "StageIO"),
    "stillroom.training.stage": ("stillroom.stages.training", "fit"),
    "stillroom.policy.labeling": ("stillroom.stages.labeling", "labelers"),
    "stillroom.evaluation.scoring": ("stillroom.training.scoring", "predict_probs"),
    "stillroom.evaluation.sweep_report": ("stillroom.cli.sweep_report", "read_sweep"),
    "stillroom.plugins.retrieval": ("stillroom.retrieval", "Bm25Index"),
}


@pytest.fixture
def in_0_3_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """This stillroom as the release that removes what 0.2.0 deprecated."""
    monkeypatch.setattr("stillroom.deprecation._installed", lambda: REMOVED_IN)


def test_the_version_moves_with_the_deprecations_and_the_changelog_lists_each() -> None:
    from stillroom import __version__

    assert not removed() and removed(version=REMOVED_IN)
    assert __version__ == "0.2.0"
    text = CHANGELOG.read_text()
    for deprecated in ("stillroom_data_source", "stillroom_build_model", "gate.compliance", "report.json", "stillroom.recipe.contracts"):
        assert deprecated in text, deprecated


class OldDataSource:
    """A data source plugin of the previous API: one hook that answers for its own ``data.name``."""

    def __init__(self, bundle: DataBundle) -> None:
        self.bundle = bundle

    @hookimpl
    def stillroom_data_source(self, product, data_config, policy, seed):
        return self.bundle if data_config["name"] == "crawl" else None


def test_a_data_source_on_the_replaced_hook_still_serves_with_a_warning() -> None:
    pairs = [Pair(f"p{i}", f"r{i // 2}", f"c{i}", "request", "candidate", label=i % 2) for i in range(4)]
    bundle = DataBundle({"train": pairs[:2], "dev": [], "test": pairs[2:]}, pool=[Pair("u", "r9", "c9", "q", "d")])
    policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
    replaced = "hook 'stillroom_data_source' is replaced by 'stillroom_data_sources'"
    with pytest.warns(StillroomDeprecationWarning, match=replaced), registered(OldDataSource(bundle), name="old-crawl"):
        assert read_data_source(get_plugin_manager(), "jobs", {"name": "crawl"}, policy, 0) is bundle
        with pytest.raises(StillroomError, match="no plugin provides data source 'nowhere'"):
            read_data_source(get_plugin_manager(), "jobs", {"name": "nowhere"}, policy, 0)


class OldModels:
    """A model plugin of the previous API: the names it builds, and a build hook that answers for them."""

    @hookimpl
    def stillroom_model_names(self):
        return ["old_linear"]

    @hookimpl
    def stillroom_build_model(self, role, model_config, context):
        return torch.nn.Linear(2, context.num_labels) if model_config["name"] == "old_linear" else None


def test_a_model_family_on_the_replaced_hooks_still_builds_with_a_warning() -> None:
    replaced = "hook 'stillroom_(model_names|build_model)' is replaced by 'stillroom_models'"
    with pytest.warns(StillroomDeprecationWarning, match=replaced), registered(OldModels(), name="old-models"):
        models = available_models(get_plugin_manager())
        assert "hf_cross_encoder" in models
        built = models["old_linear"].build("student", {"name": "old_linear"}, BuildContext(num_labels=4))
        assert isinstance(built, torch.nn.Linear) and built.out_features == 4


def test_from_0_3_0_a_plugin_on_a_replaced_hook_is_rejected_in_one_line(in_0_3_0: None) -> None:
    [problem] = hookimpl_problems(get_plugin_manager().pm, OldDataSource(None))
    replaced = "'stillroom_data_sources' (a DataSourceSpec per source, with the products it serves)"
    assert problem == f"hook 'stillroom_data_source' was replaced by {replaced}"


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_an_engine_module_that_moved_still_imports_with_a_warning_naming_where_it_went(old: str, monkeypatch: pytest.MonkeyPatch) -> None:
    new, name = MOVED_MODULES[old]
    module = importlib.import_module(old)
    with pytest.warns(StillroomDeprecationWarning, match=f"module '{old}' moved to '{new}': import {name} from there"):
        found = getattr(module, name)
    assert found is getattr(importlib.import_module(new), name)
    monkeypatch.setattr("stillroom.deprecation._installed", lambda: REMOVED_IN)
    with pytest.raises(StillroomError, match=f"module '{old}' moved to '{new}'.*stopped working in stillroom {REMOVED_IN}"):
        getattr(module, name)


def test_a_renamed_config_key_stops_working_in_0_3_0_with_the_words_of_its_warning(in_0_3_0: None) -> None:
    said = "config key 'gate.compliance' is now 'compliance.mode'; the old form stopped working in stillroom 0.3.0"
    with pytest.raises(StillroomError, match=said):
        renamed_overrides(["gate.compliance=warn"])


def test_report_json_is_still_read_where_it_was_until_0_3_0(smoke_run: Path) -> None:
    """report.json moved into the report stage's folder; scripts reading ``RUN_DIR/report.json`` still find it."""
    old, new = smoke_run / "report.json", smoke_run / "report" / "report.json"
    assert json.loads(old.read_text()) == json.loads(new.read_text())
    assert old.is_symlink() and old.resolve() == new.resolve()


def test_from_0_3_0_report_json_is_only_in_the_report_folder(tmp_path: Path, in_0_3_0: None) -> None:
    from stillroom.recipe.job import link_old_report_path

    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "report.json").write_text("{}")
    (tmp_path / "report.json").symlink_to("report/report.json")
    link_old_report_path(tmp_path, tmp_path / "report" / "report.json")
    assert not (tmp_path / "report.json").exists()


def test_loss_terms_written_as_a_list_are_answered_with_the_mapping_to_write() -> None:
    from stillroom.config.schema import validate_config

    config = compose_config("experiment=smoke")
    config.loss.distill = [{"name": "soft_label_kl", "weight": 1.0}]
    with pytest.raises(StillroomError) as error:
        validate_config(config)
    assert str(error.value) == (
        "config loss.distill: loss terms are a mapping keyed by name, not a list (the form before 0.2.0): write "
        "`distill: {soft_label_kl: {weight: 1.0}}`, one key per term with its settings beside the weight (docs/reference/losses.md)"
    )
