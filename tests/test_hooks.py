"""The lifecycle and config-search-path hooks, seen from a throwaway plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillroom import hookimpl
from stillroom.recipe.job import run_job
from stillroom.recipe.run import recipe_plan
from tests.helpers import ConfigShipper, compose_config

STAGES = recipe_plan(compose_config("experiment=smoke")).stages


class LifecycleRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    @hookimpl
    def stillroom_before_run(self, config, store) -> None:
        self.calls.append(("before_run", config["product"]["name"]))

    @hookimpl
    def stillroom_before_stage(self, stage: str) -> None:
        self.calls.append(("before_stage", stage))

    @hookimpl
    def stillroom_after_stage(self, stage: str, summary, reused: bool) -> None:
        self.calls.append(("after_stage", stage, str(reused)))

    @hookimpl
    def stillroom_after_run(self, report) -> None:
        self.calls.append(("after_run", str(report is not None)))


@pytest.mark.slow
def test_lifecycle_hooks_see_every_stage_in_order(register_plugin, tmp_path: Path) -> None:
    recorder = register_plugin(LifecycleRecorder())
    cfg = compose_config("experiment=smoke")
    run_job(cfg, tmp_path)
    names = [stage.name for stage in STAGES]
    expected = [("before_run", "jobs")]
    for name in names:
        expected += [("before_stage", name), ("after_stage", name, "False")]
    assert recorder.calls == [*expected, ("after_run", "True")]

    recorder.calls.clear()
    run_job(cfg, tmp_path)  # everything reused: no before_stage, after_stage says reused
    assert [c for c in recorder.calls if c[0] == "before_stage"] == []
    assert [c[2] for c in recorder.calls if c[0] == "after_stage"] == ["True"] * len(names)


def test_a_plugin_ships_configs_through_hydras_search_path_plugin(register_plugin, tmp_path: Path) -> None:
    (tmp_path / "logger").mkdir()
    (tmp_path / "logger" / "shipped.yaml").write_text("name: none\nshipped_by: plugin\n")
    register_plugin(ConfigShipper(tmp_path))
    cfg = compose_config("logger=shipped")  # the command line names no search path
    assert cfg.logger.shipped_by == "plugin"


def test_a_user_search_path_is_kept_beside_the_plugins(register_plugin, tmp_path: Path) -> None:
    (tmp_path / "shipped" / "logger").mkdir(parents=True)
    (tmp_path / "shipped" / "logger" / "shipped.yaml").write_text("name: none\nshipped_by: plugin\n")
    (tmp_path / "mine" / "logger").mkdir(parents=True)
    (tmp_path / "mine" / "logger" / "mine.yaml").write_text("name: none\nshipped_by: me\n")
    register_plugin(ConfigShipper(tmp_path / "shipped"))
    assert compose_config("logger=mine", f"hydra.searchpath=[file://{tmp_path / 'mine'}]").logger.shipped_by == "me"
    assert compose_config("logger=shipped", f"hydra.searchpath=[file://{tmp_path / 'mine'}]").logger.shipped_by == "plugin"


@pytest.mark.parametrize(("flags", "shown"), [(["--cfg", "job"], "shipped_by: plugin"), (["--info", "defaults"], "logger/shipped")])
def test_hydras_own_flags_work_with_a_plugin_that_ships_configs(
    flags: list[str], shown: str, register_plugin, tmp_path: Path, capsys, monkeypatch
) -> None:
    """`--cfg job` used to fail once a plugin shipped configs (the command line was rewritten with a search path)."""
    import logging
    import sys

    from tests.helpers import run_cli

    (tmp_path / "logger").mkdir()
    (tmp_path / "logger" / "shipped.yaml").write_text("name: none\nshipped_by: plugin\n")
    register_plugin(ConfigShipper(tmp_path))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    # `--info` turns the root logger to DEBUG on this test's captured stderr; the next test's runs must not inherit it
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    monkeypatch.setattr(logging.root, "level", logging.root.level)
    assert run_cli(["run", "product=jobs", "logger=shipped", *flags]) == 0
    assert shown in capsys.readouterr().out
