"""Config precedence reads like Hydra's: the command line beats an experiment, an experiment beats the product, the
product beats the recipe's defaults; a product adjusts a recipe group by shipping an option of it and selecting it
in its defaults list, and a product config that writes inside a group instead is refused, naming the file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import ConfigShipper, compose_config, run_cli

COURSES = """\
# @package _global_
defaults:
  - override /teacher: courses
  - override /loss: courses
  - override /evaluator: courses
product:
  name: courses
  policy: stillroom.products.jobs:policy.md
  engagement_events: [viewed, enrolled]
  world: {train_requests: 50, dev_requests: 10, test_requests: 100, pool_requests: 150, candidates_per_request: 20, catalog: 1200, annotator_noise: 0.1}
gate:
  min_kappa: 0.4
"""
OPTIONS = {
    "teacher/courses.yaml": "defaults: [minilm_lora, _self_]\ntrain: {epochs: 3}\n",
    "loss/courses.yaml": "defaults: [distill, _self_]\ndistill: {listnet: {weight: 0.5, temperature: 0.1}}\n",
    "evaluator/courses.yaml": "defaults: [default, _self_]\nk: 5\n",
}


@pytest.fixture
def courses(tmp_path: Path, register_plugin) -> Path:
    folder = tmp_path / "conf"
    for path, text in {"product/courses.yaml": COURSES, **OPTIONS}.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    register_plugin(ConfigShipper(folder), name="courses")  # a product plugin shipping its product and an option per group it adjusts
    return folder


def _plain(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_config(*overrides), resolve=False)


def test_the_product_beats_the_recipes_defaults_through_the_options_it_selects(courses: Path) -> None:
    recipe, product = _plain(), _plain("product=courses")
    assert recipe["teacher"]["train"]["epochs"] != product["teacher"]["train"]["epochs"] == 3
    assert set(product["loss"]["distill"]) == {*recipe["loss"]["distill"], "listnet"}
    assert recipe["evaluator"]["k"] != product["evaluator"]["k"] == 5
    assert recipe["gate"]["min_kappa"] != product["gate"]["min_kappa"] == 0.4


def test_an_experiment_beats_the_product(courses: Path) -> None:
    smoke, product_smoke = _plain("experiment=smoke"), _plain("product=courses", "experiment=smoke")
    assert product_smoke["teacher"] == smoke["teacher"]  # smoke's tiny teacher, none of the product's epochs
    assert product_smoke["gate"]["min_kappa"] == smoke["gate"]["min_kappa"] != 0.4


def test_the_command_line_beats_the_experiment_and_its_group_choice_replaces_the_products(courses: Path) -> None:
    chosen = _plain("product=courses", "experiment=smoke", "teacher=minilm_lora", "gate.min_kappa=0.3")
    assert chosen["teacher"] == _plain("teacher=minilm_lora")["teacher"]
    assert chosen["gate"]["min_kappa"] == 0.3
    two_teachers = _plain("loss=multi_teacher")["loss"]
    assert _plain("product=courses", "loss=multi_teacher")["loss"] == two_teachers  # the product's listnet term does not join


def test_the_built_in_products_adjust_their_teacher_by_option_so_smoke_keeps_its_tiny_one() -> None:
    tiny = _plain("teacher=tiny")["teacher"]
    for product in ("jobs", "feed", "search"):
        assert _plain(f"product={product}", "experiment=smoke")["teacher"] == tiny, product


def test_from_0_3_0_a_product_config_that_writes_inside_a_recipe_group_is_refused_naming_file_and_key(
    courses: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deprecated in 0.2.0 (it merges, with a warning: tests/test_deprecations.py); the release that removes it refuses it."""
    (courses / "product" / "courses.yaml").write_text(COURSES + "loss:\n  distill:\n    listnet: {weight: 0.5}\n")
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr("stillroom.deprecation._installed", lambda: "0.3.0")
    run_dir = tmp_path / "run"
    status = run_cli(["run", "product=courses", "experiment=smoke", f"hydra.run.dir={run_dir}"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert f"config file://{courses}/product/courses.yaml: it sets loss.distill, a value inside the 'loss' group" in err
    assert "the old form stopped working in stillroom 0.3.0" in err
    assert "`defaults: [{override /loss: courses}]`" in err
    assert not run_dir.exists()


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("judge:\n  name: tiny\n", "judge.name"),  # a group whose default is null counts too
        ("loss:\n  distill:\n    listnet: {weight: 0.5}\n", "loss.distill"),
    ],
)
def test_the_check_warns_of_a_value_inside_any_recipe_group_from_any_product_file(courses: Path, written: str, key: str) -> None:
    from hydra import initialize_config_module

    from stillroom.config.precedence import check_product_config
    from stillroom.config.search_path import register
    from stillroom.errors import StillroomDeprecationWarning

    (courses / "product" / "base.yaml").write_text(f"# @package _global_\n{written}")  # a product config starting from another
    (courses / "product" / "courses.yaml").write_text(COURSES.replace("defaults:\n", "defaults:\n  - base\n  - _self_\n"))
    register()
    warned = pytest.warns(StillroomDeprecationWarning, match=f"sets {key}, a value")
    with initialize_config_module(config_module="stillroom.conf", version_base="1.3"), warned:
        check_product_config("config", ["product=courses"])


@pytest.mark.parametrize("product", ["courses", "jobs", "feed", "search"])
def test_products_that_select_options_and_set_settings_outside_every_group_pass_the_check(courses: Path, product: str) -> None:
    from hydra import initialize_config_module

    from stillroom.config.precedence import check_product_config
    from stillroom.config.search_path import register

    register()
    with initialize_config_module(config_module="stillroom.conf", version_base="1.3"):
        check_product_config("config", [f"product={product}"])


def test_a_product_on_the_users_own_search_path_is_checked_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``hydra.searchpath=[file://DIR]`` on the command line, no plugin: the check finds the product config there."""
    (tmp_path / "conf" / "product").mkdir(parents=True)
    (tmp_path / "conf" / "product" / "mine.yaml").write_text(COURSES.replace("courses", "mine") + "teacher:\n  train: {epochs: 9}\n")
    for path, text in OPTIONS.items():
        (tmp_path / "conf" / path.replace("courses", "mine")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "conf" / path.replace("courses", "mine")).write_text(text)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr("stillroom.deprecation._installed", lambda: "0.3.0")  # refused, so that the test runs no recipe
    status = run_cli(["run", "product=mine", "experiment=smoke", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", f"hydra.run.dir={tmp_path / 'run'}"])
    assert status == 2 and "product/mine.yaml: it sets teacher.train, a value inside the 'teacher' group" in capsys.readouterr().err
