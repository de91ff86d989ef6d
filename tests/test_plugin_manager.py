"""The plugin manager: built-ins, entry points, check_pending, autoload switch, tracing, failures."""

from __future__ import annotations

import inspect
import sys
import types
from importlib.metadata import EntryPoint

import pluggy
import pytest

import stillroom
from stillroom import hookimpl, hookspecs, plugin_manager
from stillroom.cli import main
from stillroom.errors import StillroomError
from stillroom.losses import LossSpec, available_losses
from tests.helpers import page_text


def _hook_names() -> list[str]:
    return [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("stillroom_")]


def test_every_hook_is_documented_and_typed() -> None:
    names = _hook_names()
    assert {
        "stillroom_load_policy",
        "stillroom_data_sources",
        "stillroom_models",
        "stillroom_losses",
        "stillroom_evaluators",
        "stillroom_config_searchpath",
        "stillroom_before_stage",
        "stillroom_after_stage",
    } <= set(names)
    for name in names:
        function = getattr(hookspecs, name)
        assert function.__doc__ and len(function.__doc__) > 40, name
        assert "return" in function.__annotations__, name


def test_provide_one_hooks_are_firstresult() -> None:
    for name in ("stillroom_load_policy", "stillroom_render_pair", "stillroom_load_exported", "stillroom_build_baseline", "stillroom_build_loggers"):
        opts = getattr(hookspecs, name).stillroom_spec
        assert opts["firstresult"] is True, name
        assert "firstresult" in getattr(hookspecs, name).__doc__


def test_builtins_and_the_jobs_entry_point_are_registered() -> None:
    manager = plugin_manager.build_plugin_manager()
    names = {name for name, _ in manager.pm.list_name_plugin()}
    assert set(plugin_manager.DEFAULT_PLUGINS) <= names
    assert "jobs" in names
    assert manager.distributions["jobs"] == "stillroom"


def test_disable_autoload_skips_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugin_manager.DISABLE_AUTOLOAD_ENV, "1")
    names = {name for name, _ in plugin_manager.build_plugin_manager().pm.list_name_plugin()}
    assert "jobs" not in names
    assert set(plugin_manager.DEFAULT_PLUGINS) <= names


def test_only_the_named_distributions_entry_points_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """``STILLROOM_PLUGIN_DISTRIBUTIONS`` keeps a run (or this suite) from changing with what else is installed."""
    monkeypatch.setitem(sys.modules, "stillroom_widgets_for_test", types.ModuleType("stillroom_widgets_for_test"))
    foreign = EntryPoint(name="widgets", value="stillroom_widgets_for_test", group="stillroom")
    _fake_entry_points(monkeypatch, foreign)  # installed, from no distribution the list names
    monkeypatch.setenv(plugin_manager.ONLY_DISTRIBUTIONS_ENV, "Stillroom")
    names = {name for name, _ in plugin_manager.build_plugin_manager().pm.list_name_plugin()}
    assert {"jobs", "feed", "search"} <= names and "widgets" not in names
    monkeypatch.setenv(plugin_manager.ONLY_DISTRIBUTIONS_ENV, "someone-else")
    assert "jobs" not in {name for name, _ in plugin_manager.build_plugin_manager().pm.list_name_plugin()}
    monkeypatch.delenv(plugin_manager.ONLY_DISTRIBUTIONS_ENV)
    assert "widgets" in {name for name, _ in plugin_manager.build_plugin_manager().pm.list_name_plugin()}


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, *extra: EntryPoint) -> None:
    """Entry points beyond the installed ones; they belong to no distribution, so the suite's allow-list is lifted."""
    monkeypatch.delenv(plugin_manager.ONLY_DISTRIBUTIONS_ENV, raising=False)
    real = plugin_manager.entry_points

    def fake(group: str):
        return [*real(group=group), *extra]

    monkeypatch.setattr(plugin_manager, "entry_points", fake)


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint(name="broken_product", value="no_such_module_for_stillroom.plugin", group="stillroom")
    _fake_entry_points(monkeypatch, broken)
    manager = plugin_manager.build_plugin_manager()
    assert [f.name for f in manager.failed] == ["broken_product"]
    assert "ModuleNotFoundError" in manager.failed[0].error
    assert manager.pm.get_plugin("jobs") is not None


def test_a_hookimpl_not_in_the_spec_is_rejected_naming_plugin_and_hook() -> None:
    rogue = types.ModuleType("rogue_plugin")

    @hookimpl
    def stillroom_no_such_hook() -> None: ...

    rogue.stillroom_no_such_hook = stillroom_no_such_hook
    with pytest.raises(pluggy.PluginValidationError, match="stillroom_no_such_hook"):
        plugin_manager.build_plugin_manager(extra_plugins=(rogue,))


def test_a_hookimpl_with_an_argument_not_in_the_spec_is_rejected() -> None:
    rogue = types.ModuleType("rogue_args")

    @hookimpl
    def stillroom_losses(colour: str) -> list: ...

    rogue.stillroom_losses = stillroom_losses
    with pytest.raises(pluggy.PluginValidationError, match="colour"):
        plugin_manager.build_plugin_manager(extra_plugins=(rogue,))


def _installed_module(monkeypatch: pytest.MonkeyPatch, name: str, **hooks) -> EntryPoint:
    """A plugin module as a package would install it, and its entry point."""
    module = types.ModuleType(name)
    for attribute, function in hooks.items():
        setattr(module, attribute, hookimpl(function))
    monkeypatch.setitem(sys.modules, name, module)
    return EntryPoint(name=name, value=name, group="stillroom")


def test_an_installed_plugin_with_a_misspelled_hook_is_rejected_at_load_and_the_rest_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch, _installed_module(monkeypatch, "typo_plugin", stillroom_data_sorce=lambda product: None))
    manager = plugin_manager.build_plugin_manager()
    assert manager.pm.get_plugin("typo_plugin") is None and manager.pm.get_plugin("jobs") is not None
    [failed] = manager.failed
    assert failed.name == "typo_plugin"
    assert failed.error == "rejected: hook 'stillroom_data_sorce' is not a stillroom hook (did you mean 'stillroom_data_sources'?)"
    assert f"failed to load: {failed.error}" in page_text("docs/plugins.md")  # the docs quote what happens, word for word


def test_an_installed_plugin_whose_hook_wants_an_argument_it_is_not_given_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch, _installed_module(monkeypatch, "args_plugin", stillroom_render_pair=lambda product, colour: None))
    [failed] = plugin_manager.build_plugin_manager().failed
    assert failed.name == "args_plugin"
    assert "hook 'stillroom_render_pair' takes 'colour', which it is not given; it passes product, request, candidate" in failed.error


def test_named_plugins_can_be_disabled_and_the_rest_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugin_manager.DISABLE_PLUGINS_ENV, "feed, stillroom.plugins.baselines.bm25")
    pm = plugin_manager.build_plugin_manager().pm
    assert pm.get_plugin("feed") is None and pm.get_plugin("stillroom.plugins.baselines.bm25") is None
    assert all(pm.get_plugin(name) is not None for name in ("jobs", "search", "stillroom.plugins.losses"))


def test_the_plugins_command_shows_a_disabled_plugin_as_disabled(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(plugin_manager.DISABLE_PLUGINS_ENV, "feed")
    monkeypatch.setattr(plugin_manager, "_MANAGER", None)
    assert main(["plugins"]) == 0
    assert "feed  [disabled: STILLROOM_DISABLE_PLUGINS]" in capsys.readouterr().out
    monkeypatch.setattr(plugin_manager, "_MANAGER", None)


def test_a_later_plugin_overrides_a_builtin_loss(register_plugin) -> None:
    class Override:
        @hookimpl
        def stillroom_losses(self) -> list[LossSpec]:
            return [LossSpec("hard_label_ce", lambda: (lambda logits, batch: logits.sum() * 0), description="override")]

    register_plugin(Override(), name="override-test")
    from stillroom.plugin_manager import get_plugin_manager

    specs = available_losses(get_plugin_manager())
    assert specs["hard_label_ce"].item.description == "override"
    assert "soft_label_kl" in specs


def test_trace_prints_hook_calls(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(plugin_manager.TRACE_ENV, "1")
    manager = plugin_manager.build_plugin_manager()
    manager.hook.stillroom_losses()
    assert "[stillroom trace] stillroom_losses" in capsys.readouterr().err


def test_plugins_command_lists_name_version_and_hooks(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    broken = EntryPoint(name="broken_product", value="no_such_module_for_stillroom.plugin", group="stillroom")
    _fake_entry_points(monkeypatch, broken)
    monkeypatch.setattr(plugin_manager, "_MANAGER", None)
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "stillroom.plugins.losses  [stillroom" in out
    assert "hooks: stillroom_losses" in out
    assert f"jobs  [stillroom {stillroom.__version__}]" in out and "stillroom_data_sources" in out
    assert "broken_product  [FAILED" in out
    assert "models: bi_encoder, causal_lm_judge, " in out and "late_interaction" in out
    assert "data sources: beir (any product), " in out and "synthetic (jobs)" in out
    assert "losses: " in out and "evaluators: label_agreement, policy_compliance, ranking" in out
    monkeypatch.setattr(plugin_manager, "_MANAGER", None)


def test_a_later_plugin_overrides_a_builtin_model_family_and_a_data_source_serves_its_products(register_plugin) -> None:
    import torch

    from stillroom.data import DataBundle, DataSourceSpec, Pair, read_data_source
    from stillroom.policy.source import load_policy
    from stillroom.ranker import BuildContext, ModelSpec, available_models, build_model

    built = torch.nn.Identity()
    one = [Pair("p:1", "r", "c", "request", "candidate", label=1)]
    test, pool = [Pair("p:2", "r", "d", "request", "candidate", label=0)], [Pair("p:3", "r", "e", "request", "candidate")]
    bundle = DataBundle(golden={"train": one, "dev": [], "test": test}, pool=pool)

    class Override:
        @hookimpl
        def stillroom_models(self) -> list[ModelSpec]:
            return [ModelSpec("late_interaction", lambda role, config, context: built, "override")]

        @hookimpl
        def stillroom_data_sources(self) -> list[DataSourceSpec]:
            return [DataSourceSpec("crawl", lambda product, config, policy, seed: bundle, products=("jobs",))]

    register_plugin(Override())
    models = available_models(plugin_manager.get_plugin_manager())
    assert models["late_interaction"].description == "override" and "hf_cross_encoder" in models
    assert build_model(models, "student", {"name": "late_interaction"}, BuildContext(4)) is built
    policy = load_policy("stillroom.products.jobs:policy.md", plugin_manager.get_plugin_manager())
    assert read_data_source(plugin_manager.get_plugin_manager(), "jobs", {"name": "crawl"}, policy, 0) is bundle
    with pytest.raises(StillroomError, match="no plugin provides data source 'crawl' for product 'feed'; its data sources: beir, ") as error:
        read_data_source(plugin_manager.get_plugin_manager(), "feed", {"name": "crawl"}, policy, 0)
    assert error.value.where == "data.name" and "synthetic" in error.value.message


def test_from_0_3_0_a_plugin_on_a_replaced_hook_is_told_what_replaced_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stillroom.deprecation._installed", lambda: "0.3.0")  # deprecated in 0.2.0: tests/test_deprecations.py
    _fake_entry_points(monkeypatch, _installed_module(monkeypatch, "old_plugin", stillroom_build_model=lambda role: None))
    manager = plugin_manager.build_plugin_manager()
    [failed] = manager.failed
    assert failed.error == "rejected: hook 'stillroom_build_model' was replaced by 'stillroom_models' (a ModelSpec per model family)"
