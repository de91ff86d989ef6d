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
from stillroom.errors import StillroomError
from stillroom.plugin_boundary import PluginBroke, plugin_call
from stillroom.plugin_manager import get_plugin_manager
from tests.helpers import page_text, run_cli


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
    "a first-stage score that is not a number": (
        lambda *_: DataBundle(golden=_bundle().golden, pool=[Pair("p:3", "r3", "c1", "a", "b", first_stage_score="12.5")]),
        "pool[0] (pair 'p:3') has first_stage_score '12.5', expected a number or None",
    ),
    "notes that are not sentences": (
        lambda *_: DataBundle(golden=_bundle().golden, pool=_bundle().pool, notes=("lent test queries", 3)),
        "returned notes that are not strings; each note is a sentence for the report",
    ),
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
    if case == "a label off the policy's scale":
        assert err.strip() in page_text("docs/plugins.md")  # the docs quote this very line


def test_a_valid_bundle_from_a_plugin_passes_the_boundary(register_plugin) -> None:
    from stillroom.data import read_data_source
    from stillroom.policy.source import load_policy

    register_plugin(CoursesSource(lambda *_: _bundle()), name="courses")
    manager = get_plugin_manager()
    policy = load_policy("stillroom.products.jobs:policy.md", manager)
    bundle = read_data_source(manager, "jobs", {"name": "enrolments"}, policy, 0)
    assert [pair.pair_id for pair in bundle.golden["train"]] == ["p:1"]


def test_contributions_name_the_plugin_of_each_result_and_an_exception_in_one_names_it(register_plugin) -> None:
    class Broken:
        @hookimpl
        def stillroom_data_sources(self) -> list[DataSourceSpec]:
            raise RuntimeError("half-installed")

    from stillroom.data import DATA_SOURCES

    manager = get_plugin_manager()
    named = {source.item.name: source.plugin for source in DATA_SOURCES(manager)}
    assert named["beir"] == "stillroom.plugins.data.beir" and named["jsonl"] == "stillroom.plugins.data.jsonl"
    register_plugin(Broken(), name="broken")
    with pytest.raises(PluginBroke) as error:
        DATA_SOURCES(manager)
    assert str(error.value) == "plugin 'broken', stillroom_data_sources: raised RuntimeError: half-installed"


def test_a_plugins_own_stillroom_error_passes_through_unchanged() -> None:
    with pytest.raises(StillroomError) as error, plugin_call("jsonl", "stillroom_data_sources"):
        raise StillroomError("missing field 'label'", where="pairs.jsonl:3")
    assert not isinstance(error.value, PluginBroke) and error.value.where == "pairs.jsonl:3"


class WrongAnswers:
    """A plugin whose first-answer hooks answer with the wrong things."""

    @hookimpl
    def stillroom_render_pair(self, product: str, request: Any, candidate: Any) -> Any:
        if product == "courses":
            return "one string"
        if product == "lessons":
            return (request["level"], "x")  # a precedent without "level" raises KeyError
        return None

    @hookimpl
    def stillroom_load_policy(self, path: Path) -> Any:
        return {"product": "courses"} if path.suffix == ".courses" else None

    @hookimpl
    def stillroom_build_baseline(self, name: str, model_config: Any, context: Any) -> Any:
        return object() if name == "popular" else None

    @hookimpl
    def stillroom_load_exported(self, directory: Path) -> Any:
        return "a model" if (directory / "courses.json").exists() else None

    @hookimpl
    def stillroom_build_loggers(self, logger_config: Any) -> Any:
        return "a logger" if logger_config["name"] == "scribe" else None


def test_first_answer_names_the_plugin_that_answered_and_none_when_nobody_does(register_plugin) -> None:
    from stillroom.policy.precedents import RENDER_PAIR

    class Courses:
        @hookimpl
        def stillroom_render_pair(self, product: str, request: Any, candidate: Any) -> Any:
            return ("a member", "a course") if product == "courses" else None

    register_plugin(Courses(), name="courses")
    answer = RENDER_PAIR(get_plugin_manager(), product="courses", request={}, candidate={})
    assert answer is not None and (answer.plugin, answer.item) == ("courses", ("a member", "a course"))
    assert RENDER_PAIR(get_plugin_manager(), product="nobody", request={}, candidate={}) is None


def test_each_first_answer_hook_is_held_to_its_contract_naming_the_plugin(register_plugin, tmp_path: Path) -> None:
    from stillroom.policy.precedents import render_precedents
    from stillroom.policy.source import load_policy
    from stillroom.serving.score import load_exported

    register_plugin(WrongAnswers(), name="courses")
    manager = get_plugin_manager()
    policy = load_policy("stillroom.products.jobs:policy.md", manager)
    with pytest.raises(PluginBroke, match=r"^plugin 'courses', stillroom_render_pair: returned 'one string', expected \(request_text"):
        render_precedents(policy, "courses", manager)
    with pytest.raises(StillroomError, match=r"plugin 'courses' needs field 'level' to render this precedent as text"):
        render_precedents(policy, "lessons", manager)
    odd = tmp_path / "policy.courses"
    odd.write_text("courses")
    with pytest.raises(PluginBroke, match=r"^plugin 'courses', stillroom_load_policy: returned dict, expected a Policy$"):
        load_policy(str(odd), manager)
    (tmp_path / "courses.json").write_text("{}")
    with pytest.raises(PluginBroke, match=r"^plugin 'courses', stillroom_load_exported: returned str, expected a Ranker"):
        load_exported(tmp_path, manager)


@pytest.mark.parametrize(
    ("override", "said"),
    [
        (
            "evaluator.baselines=[popular]",
            "plugin 'courses', stillroom_build_baseline('popular'): returned object, expected a Scorer (a score(requests, candidates) "
            "method and an int params)",
        ),
        ("logger.name=scribe", "plugin 'courses', stillroom_build_loggers: returned str, expected a list of Lightning loggers (empty for none)"),
    ],
)
def test_a_baseline_or_loggers_off_the_contract_stop_the_run_naming_the_plugin(
    override: str, said: str, register_plugin, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    register_plugin(WrongAnswers(), name="courses")
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    status = run_cli(["run", "experiment=smoke", override, f"hydra.run.dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.strip() == f"stillroom: error: {said}"


def test_a_search_path_that_is_not_a_list_of_entries_names_the_plugin(register_plugin) -> None:
    from stillroom.config.products import plugin_config_entries

    class OneString:
        @hookimpl
        def stillroom_config_searchpath(self) -> Any:
            return "pkg://courses.conf"

    register_plugin(OneString(), name="courses")
    with pytest.raises(PluginBroke, match=r"^plugin 'courses', stillroom_config_searchpath: returned str, expected a list"):
        plugin_config_entries(get_plugin_manager())


def test_a_contribution_of_none_is_nothing_and_one_that_is_no_list_names_the_plugin(register_plugin) -> None:
    from stillroom.losses import available_losses

    class Nothing:
        @hookimpl
        def stillroom_losses(self) -> Any:
            return None

    class OneSpec:
        @hookimpl
        def stillroom_losses(self) -> Any:
            return "margin"

    register_plugin(Nothing(), name="nothing")
    assert "soft_label_kl" in available_losses(get_plugin_manager())  # pluggy drops a None, and so does the boundary
    register_plugin(OneSpec(), name="courses")
    with pytest.raises(PluginBroke, match=r"^plugin 'courses', stillroom_losses: returned str, expected a list$"):
        available_losses(get_plugin_manager())


def test_a_contributed_list_holding_the_wrong_items_names_the_plugin(register_plugin) -> None:
    from stillroom.config.products import plugin_config_entries
    from stillroom.losses import available_losses

    class Names:
        @hookimpl
        def stillroom_losses(self) -> Any:
            return ["margin"]

        @hookimpl
        def stillroom_config_searchpath(self) -> Any:
            return [3]

    register_plugin(Names(), name="courses")
    with pytest.raises(PluginBroke, match=r"^plugin 'courses', stillroom_losses: returned \['margin'\], expected a list of LossSpec$"):
        available_losses(get_plugin_manager())
    with pytest.raises(PluginBroke, match=r"^plugin 'courses', stillroom_config_searchpath: returned \[3\], expected a list of search-path entries"):
        plugin_config_entries(get_plugin_manager())


class BrokenComponents:
    """A model family that raises, one that builds no module, an evaluator that returns a list, a loss whose
    builder raises and one whose term returns a value per row instead of the batch's mean."""

    @hookimpl
    def stillroom_losses(self) -> list:
        from stillroom.losses import LossSpec

        def raises(margin: float = 1.0) -> Any:
            raise ValueError(f"margin {margin} needs pairs")

        return [
            LossSpec("margin", raises),
            LossSpec("per_row", lambda: (lambda logits, batch: logits.logsumexp(-1))),
        ]

    @hookimpl
    def stillroom_models(self) -> list:
        from stillroom.ranker import ModelSpec

        def raises(role: str, config: Any, context: Any) -> Any:
            raise RuntimeError("tower size must be even")

        return [ModelSpec("towers", raises), ModelSpec("not_a_module", lambda role, config, context: "weights.bin")]

    @hookimpl
    def stillroom_evaluators(self) -> list:
        class Listing:
            name = "listing"

            def __call__(self, inputs: Any) -> Any:
                return [0.5]

        return [Listing()]


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (["student.name=towers"], "plugin 'courses', stillroom_models: model 'towers': raised RuntimeError: tower size must be even"),
        (["student.name=not_a_module"], "plugin 'courses', stillroom_models: model 'not_a_module': returned str, expected a Ranker"),
        (["+loss.finetune.margin={weight: 1.0}"], "plugin 'courses', stillroom_losses: loss 'margin': raised ValueError: margin 1.0 needs pairs"),
        (
            ["+loss.finetune.per_row={weight: 1.0}"],
            "plugin 'courses', stillroom_losses: loss term 'per_row': returned a tensor of shape (32,), expected a scalar tensor",
        ),
        (["+loss.finetune.margin={weight: 1.0, colour: 2}"], "loss.finetune.margin: bad parameters for loss 'margin': got an unexpected keyword argument 'colour'"),
        (
            ["evaluator.names=[ranking,listing]"],
            "plugin 'courses', stillroom_evaluators: evaluator 'listing': returned list, expected a mapping of result names",
        ),
    ],
)
def test_a_model_family_loss_or_evaluator_that_breaks_its_contract_stops_the_run_naming_the_plugin(
    overrides: list[str], said: str, tmp_path: Path, register_plugin, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    register_plugin(BrokenComponents(), name="courses")
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    status = run_cli(["run", "experiment=smoke", *overrides, f"hydra.run.dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert status == 2 and said in err and len(err.strip().splitlines()) == 1, err


def test_a_hook_wrapper_and_the_tracer_see_every_hook_call_of_a_smoke_run(smoke_run: Path, smoke_hook_calls) -> None:
    from collections import Counter

    from stillroom.hookspecs import REPLACED_HOOKS
    from stillroom.plugin_boundary import HOOKS, ContributeHook, FirstAnswerHook

    wrapped = Counter(smoke_hook_calls.wrapped)  # the deprecated hooks are not wrapped (implementing one warns)
    assert wrapped == Counter(hook for hook in smoke_hook_calls.traced_hooks() if hook not in REPLACED_HOOKS)
    kinds = {type(HOOKS[name]) for name in wrapped}
    assert {ContributeHook, FirstAnswerHook} <= kinds, wrapped
    assert {"stillroom_load_policy", "stillroom_models", "stillroom_build_baseline", "stillroom_before_stage"} <= set(wrapped)


def test_every_hook_has_one_boundary_and_no_engine_code_calls_a_hook_around_it() -> None:
    import re

    import stillroom.cli.main  # noqa: F401 - the modules that declare the boundaries
    import stillroom.recipe.job  # noqa: F401
    from stillroom import hookspecs
    from stillroom.plugin_boundary import HOOKS

    assert sorted(HOOKS) == sorted(name for name in dir(hookspecs) if name.startswith("stillroom_"))
    from stillroom.plugin_boundary import ContributeHook, FirstAnswerHook, NotifyHook
    from stillroom.plugin_reference import hook_functions, hook_kind

    kinds = {"first answer": FirstAnswerHook, "contribute": ContributeHook, "observer": NotifyHook}
    assert {hook.__name__: kinds[hook_kind(hook)] for hook in hook_functions()} == {name: type(boundary) for name, boundary in HOOKS.items()}
    core = Path(__file__).resolve().parents[1] / "core"
    lines = [(path.name, line.strip()) for path in core.rglob("*.py") for line in path.read_text().splitlines()]
    assert [f"{name}: {line}" for name, line in lines if re.search(r"\.hook\.stillroom_", line)] == []
