"""A plugin's mistake stops the run where the engine receives its output: exit 2, one line naming the plugin and
the hook, no stage marked complete."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stillroom import hookimpl
from stillroom.data import DataBundle, DataSourceSpec, Pair
from stillroom.plugin_boundary import PluginBroke, contributions, plugin_call
from stillroom.plugin_manager import get_plugin_manager
from tests.helpers import run_cli


def _bundle(label: Any = 1) -> DataBundle:
    train = [Pair("p:1", "r1", "c1", "a member", "a course", label=label)]
    test = [Pair("p:2", "r2", "c1", "a member", "a course", label=0)]
    return DataBundle(golden={"train": train, "dev": [], "test": test}, pool=[Pair("p:0", "r0", "c1", "a member", "a course")])


def _raises(*_: Any) -> DataBundle:
    raise ValueError("no such table: enrolments")


BROKEN: dict[str, tuple[Callable[..., Any], str]] = {
    "a label off the policy's scale": (lambda *_: _bundle(label=4), "train[0] (pair 'p:1') has label 4, off the policy's scale 0 to 3"),
    "the wrong type": (lambda *_: {"golden": {}, "pool": []}, "returned dict, expected a DataBundle"),
    "an exception": (_raises, "raised ValueError: no such table: enrolments"),
    "a labeled pool pair": (
        lambda *_: DataBundle(golden=_bundle().golden, pool=[Pair("p:3", "r3", "c1", "a", "b", label=2)]),
        "pool[0] (pair 'p:3') is in the pool with label 2; pool pairs carry none",
    ),
    "a pair id twice": (
        lambda *_: DataBundle(golden={**_bundle().golden, "test": _bundle().golden["train"]}, pool=_bundle().pool),
        "pair id 'p:1' is in train[0] and test[0]; pair ids must be unique",
    ),
    "no test pairs": (lambda *_: DataBundle(golden={**_bundle().golden, "test": []}, pool=_bundle().pool), "returned no test pairs"),
}


class CoursesSource:
    def __init__(self, read: Callable[..., Any]) -> None:
        self.read = read

    @hookimpl
    def stillroom_data_sources(self) -> list[DataSourceSpec]:
        return [DataSourceSpec("enrolments", self.read)]


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_data_source_that_breaks_its_contract_stops_the_run_naming_plugin_and_hook(
    case: str, tmp_path: Path, register_plugin, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    read, problem = BROKEN[case]
    register_plugin(CoursesSource(read), name="courses")
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    run_dir = tmp_path / "run"
    status = run_cli(["run", "experiment=smoke", "data.name=enrolments", f"hydra.run.dir={run_dir}"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.strip() == f"stillroom: error: plugin 'courses', stillroom_data_sources: data source 'enrolments': {problem}"
    assert not list(run_dir.rglob("_complete.json"))


def test_a_valid_bundle_from_a_plugin_passes_the_boundary(register_plugin) -> None:
    from stillroom.data import read_data_source
    from stillroom.policy.source import load_policy

    register_plugin(CoursesSource(lambda *_: _bundle()), name="courses")
    manager = get_plugin_manager()
    policy = load_policy("stillroom.products.jobs:policy.md", manager)
    bundle = read_data_source(contributions(manager.hook.stillroom_data_sources), "jobs", {"name": "enrolments"}, policy, 0)
    assert [pair.pair_id for pair in bundle.golden["train"]] == ["p:1"]


def test_contributions_name_the_plugin_of_each_result_and_an_exception_in_one_names_it(register_plugin) -> None:
    class Broken:
        @hookimpl
        def stillroom_data_sources(self) -> list[DataSourceSpec]:
            raise RuntimeError("half-installed")

    manager = get_plugin_manager()
    named = dict(contributions(manager.hook.stillroom_data_sources))
    assert {"beir", "jsonl"} <= {spec.name for specs in named.values() for spec in specs}
    register_plugin(Broken(), name="broken")
    with pytest.raises(PluginBroke) as error:
        contributions(manager.hook.stillroom_data_sources)
    assert str(error.value) == "plugin 'broken', stillroom_data_sources: raised RuntimeError: half-installed"


def test_a_plugins_own_stillroom_error_passes_through_unchanged() -> None:
    from stillroom.errors import StillroomError

    with pytest.raises(StillroomError) as error, plugin_call("jsonl", "stillroom_data_sources"):
        raise StillroomError("missing field 'label'", where="pairs.jsonl:3")
    assert not isinstance(error.value, PluginBroke) and error.value.where == "pairs.jsonl:3"
