"""Loading runs nothing it finds on disk: pickled weights are refused, a model's own code stays unrun.

Each test plants a payload that writes a marker file if it is ever executed.
(A pickled checkpoint is tested in test_resume.py.)
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import torch

from stillroom.config.schema import validate_config
from stillroom.errors import StillroomError
from stillroom.ranker import BuildContext, load_model_state
from tests.helpers import Payload, build_with_plugins, compose_config


def build_teacher(folder: Path, *overrides: str):
    config = validate_config(
        compose_config("teacher=minilm_lora", f"teacher.pretrained={folder}", f"teacher.tokenizer={folder}", "teacher.lora.layers=null", *overrides)
    )
    return build_with_plugins("teacher", config["teacher"], BuildContext(4))


def test_pickled_weights_in_a_model_folder_are_refused_not_executed(tmp_path: Path, tiny_encoder_folder: Path) -> None:
    folder = shutil.copytree(tiny_encoder_folder, tmp_path / "model")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "executed.txt"
    torch.save({"embeddings.word_embeddings.weight": Payload(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(StillroomError, match="has weights that are not plain tensors .* they are not loaded"):
        build_teacher(folder)
    assert not marker.exists()


@pytest.mark.parametrize("trusted", [False, True])
def test_a_models_own_code_runs_only_when_the_config_trusts_it(tmp_path: Path, tiny_encoder_folder: Path, trusted: bool) -> None:
    folder = shutil.copytree(tiny_encoder_folder, tmp_path / "model")
    marker = tmp_path / "executed.txt"
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="custom_ranker", auto_map={"AutoConfig": "custom.Config", "AutoModel": "custom.Model"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('executed')\n"
        "from transformers import BertConfig, BertModel\n"
        "class Config(BertConfig):\n    model_type = 'custom_ranker'\n"
        "class Model(BertModel):\n    config_class = Config\n"
    )
    if not trusted:
        with pytest.raises(StillroomError, match=r"ships code of its own, which runs only if the config says so: `teacher.trust_remote_code=true`"):
            build_teacher(folder)
        assert not marker.exists()
    else:
        build_teacher(folder, "teacher.trust_remote_code=true")
        assert marker.exists()  # the same folder's code does run once the config trusts it: the refusal above was the setting


def test_a_pickle_where_a_stage_saved_safetensors_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed.txt"
    weights = tmp_path / "weights.safetensors"
    torch.save({"w": Payload(marker)}, weights)
    with pytest.raises(StillroomError, match="not a safetensors file of weights"):
        load_model_state(torch.nn.Linear(2, 2), weights)
    assert not marker.exists()


SOURCES = sorted(p for folder in ("core", "plugins", "products") for p in (Path(__file__).parents[1] / folder).rglob("*.py"))


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(path: Path) -> list[str]:
    """Calls that could run code from a file or reach a model hub: what no source file may hold."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        place = f"{path.name}:{node.lineno}"
        if (owner in ("pickle", "dill", "joblib") and name.startswith("load")) or (isinstance(func, ast.Name) and name in ("eval", "exec")):
            found.append(f"{place} {owner or 'builtin'}.{name}")
        if owner == "torch" and name == "load" and not _is_true(_keyword(node, "weights_only")):
            found.append(f"{place} torch.load without weights_only=True")
        if name == "from_pretrained" and not _is_true(_keyword(node, "local_files_only")):
            found.append(f"{place} from_pretrained without local_files_only=True")
        if _is_true(_keyword(node, "trust_remote_code")):
            found.append(f"{place} trust_remote_code=True")
    return found


def test_no_source_file_unpickles_evaluates_downloads_or_trusts_remote_code() -> None:
    assert len(SOURCES) > 50
    assert [call for path in SOURCES for call in unsafe_calls(path)] == []


def test_the_source_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle, torch\npickle.load(f)\ntorch.load(p)\ntorch.load(p, weights_only=False)\neval(s)\n"
        "AutoModel.from_pretrained(d)\nAutoModel.from_pretrained(d, local_files_only=True, trust_remote_code=True)\n"
    )
    assert len(unsafe_calls(bad)) == 6
