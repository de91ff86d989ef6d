"""The plugin manager: built-ins first, then entry points, then ``check_pending()``.

Built-in plugins are registered exactly as third-party ones: by module name,
through the same manager. Products ship as entry points in the ``stillroom``
group, the same way a product team's package does.

Environment variables:

* ``STILLROOM_DISABLE_PLUGIN_AUTOLOAD=1`` skips the entry-point group (built-ins
  in :data:`DEFAULT_PLUGINS` still load).
* ``STILLROOM_DISABLE_PLUGINS=name,name`` blocks the named plugins (entry-point
  names or built-in module names); the others load.
* ``STILLROOM_PLUGIN_DISTRIBUTIONS=stillroom,stillroom-widgets`` loads entry points
  only from the named installed distributions: a run (or a test suite) that must not
  change with whatever else is installed beside it names what it expects.
* ``STILLROOM_TRACE_HOOKS=1`` prints every hook call and its result to stderr.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType

import pluggy

from stillroom import PROJECT_NAME, hookspecs
from stillroom.deprecation import removed
from stillroom.plugin_boundary import EnginePluginManager

ENTRY_POINT_GROUP = PROJECT_NAME
DISABLE_AUTOLOAD_ENV = "STILLROOM_DISABLE_PLUGIN_AUTOLOAD"
DISABLE_PLUGINS_ENV = "STILLROOM_DISABLE_PLUGINS"
ONLY_DISTRIBUTIONS_ENV = "STILLROOM_PLUGIN_DISTRIBUTIONS"
TRACE_ENV = "STILLROOM_TRACE_HOOKS"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "stillroom.plugins.policy_markdown",
    "stillroom.plugins.models.transformers_families",
    "stillroom.plugins.models.causal_lm",
    "stillroom.plugins.losses",
    "stillroom.plugins.baselines.bm25",
    "stillroom.plugins.data.jsonl",
    "stillroom.plugins.data.beir",
    "stillroom.plugins.data.ir_datasets_source",
    "stillroom.plugins.data.interactions",
    "stillroom.plugins.evaluators.ranking",
    "stillroom.plugins.evaluators.label_agreement",
    "stillroom.plugins.evaluators.policy_compliance",
    "stillroom.plugins.loggers",
)


@dataclass(frozen=True)
class FailedPlugin:
    """A plugin that could not be loaded; reported by name instead of crashing."""

    name: str
    """The entry point's name (or the built-in module's)."""
    source: str
    """Where it came from: ``entry point from DISTRIBUTION``, or ``built-in``."""
    error: str
    """Why it did not load: the import's exception, or ``rejected: ...`` for a hook that is not in the spec."""


@dataclass
class Plugins:
    """The loaded plugins: pluggy's manager (``pm``; ``hook`` calls it) plus the record of plugins that failed to load.

    A plugin's test checks that its package loaded: its entry-point name is among ``pm.list_name_plugin()`` and
    not in ``failed``.

    Example::

        >>> from stillroom.api import get_plugin_manager
        >>> manager = get_plugin_manager()
        >>> "stillroom.plugins.losses" in dict(manager.pm.list_name_plugin()), [f.name for f in manager.failed]
        (True, [])
    """

    pm: pluggy.PluginManager
    """pluggy's manager: ``pm.list_name_plugin()`` names every registered plugin, ``pm.register`` adds one (in a
    test, ``stillroom.testing.registered`` does it safely)."""
    failed: list[FailedPlugin] = field(default_factory=list)
    """The plugins that did not load, each with its error (``stillroom plugins`` lists them as FAILED)."""
    distributions: dict[str, str] = field(default_factory=dict)
    """Entry-point plugin name -> the installed distribution that provided it."""

    @property
    def hook(self) -> pluggy.HookRelay:
        return self.pm.hook


def _is_truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def hookimpl_problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """What in ``plugin`` does not fit the hook specs: hooks that do not exist, arguments a hook does not pass."""
    problems = []
    for attribute in dir(plugin):
        if pm.parse_hookimpl_opts(plugin, attribute) is None:
            continue
        caller = getattr(pm.hook, attribute, None)
        if attribute in hookspecs.REPLACED_HOOKS and removed():  # deprecated for one release: pluggy warns, the engine calls it
            problems.append(f"hook {attribute!r} was replaced by {hookspecs.REPLACED_HOOKS[attribute]}")
            continue
        if caller is None or caller.spec is None:
            current = [name for name in dir(hookspecs) if name.startswith(f"{PROJECT_NAME}_") and name not in hookspecs.REPLACED_HOOKS]
            near = difflib.get_close_matches(attribute, current, n=1)
            problems.append(f"hook {attribute!r} is not a stillroom hook" + (f" (did you mean {near[0]!r}?)" if near else ""))
            continue
        passed = set(caller.spec.argnames)
        wanted = [name for name in inspect.signature(getattr(plugin, attribute)).parameters if name != "self"]
        unknown = [name for name in wanted if name not in passed]
        if unknown:
            given = ", ".join(caller.spec.argnames)
            problems.append(f"hook {attribute!r} takes {', '.join(map(repr, unknown))}, which it is not given; it passes {given}")
    return problems


def _normalized(distribution: str) -> str:
    """A distribution's name as packaging compares them: ``Stillroom_Widgets`` is ``stillroom-widgets``."""
    return distribution.strip().lower().replace("_", "-").replace(".", "-")


def _allowed_distributions() -> set[str] | None:
    """The distributions ``STILLROOM_PLUGIN_DISTRIBUTIONS`` allows entry points from; ``None`` when it is not set (all)."""
    names = {_normalized(name) for name in (os.environ.get(ONLY_DISTRIBUTIONS_ENV) or "").split(",") if name.strip()}
    return names or None


def _load_entry_points(manager: Plugins) -> None:
    """Each plugin of the entry-point group, checked against the specs before it is registered; a broken one is named, not fatal."""
    pm = manager.pm
    allowed = _allowed_distributions()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name) or (allowed is not None and _normalized(dist) not in allowed):
            continue
        source = f"entry point from {dist}"
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not take down the rest
            manager.failed.append(FailedPlugin(ep.name, source, f"{type(exc).__name__}: {exc}"))
            continue
        problems = hookimpl_problems(pm, plugin)
        if problems:
            manager.failed.append(FailedPlugin(ep.name, source, f"rejected: {'; '.join(problems)}"))
            continue
        pm.register(plugin, name=ep.name)
        manager.distributions[ep.name] = dist


def trace_hook_calls(pm: pluggy.PluginManager, write: Callable[[str], object] = lambda line: print(line, file=sys.stderr)) -> Callable[[], None]:
    """Have every hook call through ``pm`` written as it starts (the hook, its arguments, the plugins it reaches)
    and as it returns; what ``STILLROOM_TRACE_HOOKS=1`` turns on. Returns the function that stops it."""

    def before(hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
        names = ", ".join(impl.plugin_name for impl in hook_impls)
        write(f"[stillroom trace] {hook_name}({', '.join(kwargs)}) -> [{names}]")

    def after(outcome: pluggy.Result, hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
        result = repr(outcome.get_result()) if outcome.exception is None else repr(outcome.exception)
        write(f"[stillroom trace] {hook_name} returned {result[:200]}")

    return pm.add_hookcall_monitoring(before, after)


def build_plugin_manager(extra_plugins: tuple[ModuleType | object, ...] = ()) -> Plugins:
    """Create a manager with the built-ins, the entry points and ``extra_plugins``.

    ``check_pending()`` runs last, so a hookimpl whose name is not in the spec is
    rejected at load, naming the plugin and the hook.
    """
    pm = EnginePluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    manager = Plugins(pm)
    for name in (os.environ.get(DISABLE_PLUGINS_ENV) or "").split(","):
        if name.strip():
            pm.set_blocked(name.strip())
    for module_name in DEFAULT_PLUGINS:
        if not pm.is_blocked(module_name):
            pm.register(importlib.import_module(module_name), name=module_name)
    if not _is_truthy(os.environ.get(DISABLE_AUTOLOAD_ENV)):
        _load_entry_points(manager)
    for plugin in extra_plugins:
        pm.register(plugin)
    pm.check_pending()
    if _is_truthy(os.environ.get(TRACE_ENV)):
        trace_hook_calls(pm)
    return manager


_MANAGER: Plugins | None = None


def get_plugin_manager() -> Plugins:
    """The process-wide manager, built on first use."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = build_plugin_manager()
    return _MANAGER
