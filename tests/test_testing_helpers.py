"""stillroom.testing: a plugin registered for one test, safely beside the installed ones, and a tiny recipe run
in-process that returns the report or says why it stopped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stillroom import hookimpl
from stillroom.plugin_manager import get_plugin_manager
from stillroom.testing import TinyRunFailed, registered, run_tiny_recipe


class Recorder:
    def __init__(self) -> None:
        self.stages: list[str] = []

    @hookimpl
    def stillroom_after_stage(self, stage: str) -> None:
        self.stages.append(stage)


def test_registering_an_installed_plugin_again_does_not_collide_and_leaves_it_installed() -> None:
    pm = get_plugin_manager().pm
    installed = pm.get_plugin("jobs")
    with registered(installed, name="jobs") as plugin:
        assert plugin is installed
    assert pm.get_plugin("jobs") is installed


def test_a_plugin_under_a_taken_name_stands_in_for_the_block_and_the_installed_one_comes_back() -> None:
    pm = get_plugin_manager().pm
    installed = pm.get_plugin("jobs")
    with registered(Recorder(), name="jobs") as stand_in:
        assert pm.get_plugin("jobs") is stand_in
    assert pm.get_plugin("jobs") is installed and not pm.is_registered(stand_in)


def test_a_displaced_plugin_comes_back_in_its_place_in_the_call_order() -> None:
    pm = get_plugin_manager().pm
    before = pm.list_name_plugin()
    with registered(Recorder(), name="stillroom.plugins.losses"):
        pass
    assert pm.list_name_plugin() == before  # so a plugin registered after it still overrides it


@pytest.mark.slow
def test_a_tiny_recipe_runs_in_process_with_the_registered_plugin_and_returns_the_report(tmp_path: Path) -> None:
    handlers = [type(handler) for handler in logging.getLogger().handlers]
    with registered(Recorder()) as recorder:
        report = run_tiny_recipe("jobs", tmp_path / "run")
    assert recorder.stages[0] == "prepare" and recorder.stages[-1] == "report"
    assert report["product"] == "jobs" and "student" in report["models"]
    assert [type(handler) for handler in logging.getLogger().handlers] == handlers  # Hydra's job logging put back


def test_a_tiny_recipe_that_stops_says_why(tmp_path: Path) -> None:
    with pytest.raises(TinyRunFailed, match=r"exited 2:\n.*no plugin builds a model named 'nope'"):
        run_tiny_recipe("jobs", tmp_path / "run", "student.name=nope")
