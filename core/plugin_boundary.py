"""Where the engine receives what a plugin made: every hook is called through pluggy, each result keeps the name of
the plugin that gave it, and each hook's results are checked by the one contract declared for that hook.

A plugin's mistake (an exception in its hook, a result of the wrong type, a
label off the policy's scale) found three stages later is a crash in code the
plugin's author never read. Found here, it is one line that names the plugin,
the hook and what was wrong, exit status 2 like any other bad input, before any
stage is marked complete. ``HYDRA_FULL_ERROR=1`` shows the traceback behind it.

pluggy calls every hook (so a plugin's hook wrappers run, ``STILLROOM_TRACE_HOOKS``
sees the call and ``firstresult`` means what ``hookspecs.py`` says); the engine's
plugin manager wraps each implementation as it is registered, so that its
exception names its plugin and its answer is known to be that plugin's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pluggy

from stillroom.compat.pluggy import replace_function
from stillroom.errors import BrokenDeclaration, RunInterrupted, StillroomError

if TYPE_CHECKING:
    from stillroom.plugin_manager import Plugins

T = TypeVar("T")
R = TypeVar("R")
Problem = Callable[[Any], "str | None"]
"""A contract: what is wrong with a result, in a line, or ``None`` when nothing is."""
A_HOOK_WRAPPER = "a hook wrapper"
"""The name a result is given when no implementation returned it: a plugin's wrapper put it there."""


class PluginBroke(StillroomError):
    """A plugin's hook raised, or returned what its contract does not allow; ``where`` names the plugin and hook."""

    def __init__(self, message: str, plugin: str, hook: str) -> None:
        self.plugin, self.hook = plugin, hook
        super().__init__(message, where=f"plugin {plugin!r}, {hook}")


@contextmanager
def plugin_call(plugin: str, hook: str) -> Iterator[None]:
    """Run a plugin's code; an exception from it becomes a :class:`PluginBroke` naming the plugin and the hook.

    A :class:`StillroomError` passes through as it is: the plugin already said what was wrong with the input
    (a data file's line, a missing model); so do :class:`RunInterrupted`, a SIGTERM that arrived while the
    plugin's code ran, and :class:`BrokenDeclaration`, a stage reading config it did not declare through it.
    """
    try:
        yield
    except (StillroomError, RunInterrupted, BrokenDeclaration):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a plugin raises, the user is told whose it is
        raise PluginBroke(f"raised {type(exc).__name__}: {exc}", plugin, hook) from exc


def instance_of(expected: type | tuple[type, ...], name: str) -> Problem:
    """A contract that asks for an instance of ``expected`` (called ``name`` in the message)."""
    return lambda result: None if isinstance(result, expected) else f"returned {type(result).__name__}, expected {name}"


# -- who answered ---------------------------------------------------------------

_ANSWERS: ContextVar[list[tuple[str, Any]] | None] = ContextVar("stillroom_hook_answers", default=None)


def _answering(function: Callable[..., Any], plugin: str, hook: str) -> Callable[..., Any]:
    """``function``, a hook implementation, such that what it raises names ``plugin`` and ``hook``, and what it
    returns is recorded as ``plugin``'s answer for the hook call being recorded."""

    def answer(*args: Any) -> Any:
        with plugin_call(plugin, hook):
            result = function(*args)
        record = _ANSWERS.get()
        if record is not None and result is not None:
            record.append((plugin, result))
        return result

    return answer


class EnginePluginManager(pluggy.PluginManager):
    """pluggy's manager, whose implementations answer in their plugin's name (wrappers are left as they are)."""

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        if registered is not None:
            for caller in self.get_hookcallers(plugin) or ():
                for impl in caller.get_hookimpls():
                    if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                        replace_function(impl, partial(_answering, plugin=impl.plugin_name, hook=caller.name))
        return registered


def _call(plugins: Plugins, hook: str, kwargs: dict[str, Any]) -> tuple[Any, list[tuple[str, Any]]]:
    """The hook called through pluggy, with each implementation's answer and its plugin's name."""
    record: list[tuple[str, Any]] = []
    token = _ANSWERS.set(record)
    try:
        return getattr(plugins.hook, hook)(**kwargs), record
    finally:
        _ANSWERS.reset(token)


def _plugin_of(result: Any, record: list[tuple[str, Any]]) -> str:
    """The plugin whose implementation returned ``result`` (each answer claimed once, in call order)."""
    for index, (plugin, answer) in enumerate(record):
        if answer is result:
            del record[index]
            return plugin
    return A_HOOK_WRAPPER


# -- one contract per hook ------------------------------------------------------


@dataclass(frozen=True)
class Contributed(Generic[T]):
    """A component a plugin gave (a model family, a loss, an evaluator, a data source, a policy, a baseline), with
    the name of that plugin and the hook it came through, so that running the component names them when it fails."""

    item: T
    plugin: str
    hook: str

    def run(self, what: str, function: Callable[..., R], *args: Any, expect: Problem | None = None) -> R:
        """``function(*args)``, plugin code about this component (``what``: ``"model 'x'"``), such that an exception
        from it, or a result ``expect`` finds a problem with, is a :class:`PluginBroke` naming plugin, hook and
        component."""
        where = f"{self.hook}: {what}"
        with plugin_call(self.plugin, where):
            result = function(*args)
        if expect is not None and (problem := expect(result)):
            raise PluginBroke(problem, self.plugin, where)
        return result


def by_name(contributed: Sequence[Contributed[T]], name_of: Callable[[T], str]) -> dict[str, Contributed[T]]:
    """A contribute-many hook's components by name. pluggy calls the plugin registered last first; walking its
    results oldest plugin first, a plugin registered later replaces a built-in of the same name."""
    plugins = list(dict.fromkeys(component.plugin for component in contributed))
    merged: dict[str, Contributed[T]] = {}
    for plugin in reversed(plugins):
        merged.update((name_of(component.item), component) for component in contributed if component.plugin == plugin)
    return merged


HOOKS: dict[str, ContributeHook | FirstAnswerHook | NotifyHook] = {}
"""Each hook's boundary, by hook name: the one place its results are checked."""


def _declare(boundary: Any) -> None:
    if boundary.name in HOOKS:
        raise RuntimeError(f"the boundary of {boundary.name} is declared twice")
    HOOKS[boundary.name] = boundary


@dataclass(frozen=True)
class ContributeHook(Generic[T]):
    """A contribute-many hook: every plugin's list, each item checked by ``item`` (``expected`` says what a list
    should hold), in pluggy's call order (the plugin registered last first, so that a later plugin can replace a
    built-in of the same name). A plugin that returns ``None`` contributes nothing, as pluggy has it."""

    name: str
    item: Problem
    expected: str

    def __post_init__(self) -> None:
        _declare(self)

    def __call__(self, plugins: Plugins, **kwargs: Any) -> list[Contributed[T]]:
        results, record = _call(plugins, self.name, kwargs)
        contributed = []
        for result in results:
            plugin = _plugin_of(result, record)
            if not isinstance(result, (list, tuple)):
                raise PluginBroke(f"returned {type(result).__name__}, expected a list", plugin, self.name)
            if any(self.item(item) for item in result):
                raise PluginBroke(f"returned {result!r}, expected {self.expected}", plugin, self.name)
            contributed.extend(Contributed(item, plugin, self.name) for item in result)
        return contributed


@dataclass(frozen=True)
class FirstAnswerHook(Generic[T]):
    """A first-answer hook (``firstresult``): the answer of the first plugin that gives one, checked by ``answer``,
    with that plugin's name; ``None`` when no plugin answers. ``label`` names the question in a message
    (``"stillroom_build_baseline('bm25')"``)."""

    name: str
    answer: Problem

    def __post_init__(self) -> None:
        _declare(self)

    def __call__(self, plugins: Plugins, label: str = "", **kwargs: Any) -> Contributed[T] | None:
        result, record = _call(plugins, self.name, kwargs)
        if result is None:
            return None
        plugin = _plugin_of(result, record)
        if problem := self.answer(result):
            raise PluginBroke(problem, plugin, label or self.name)
        return Contributed(result, plugin, label or self.name)


@dataclass(frozen=True)
class NotifyHook:
    """A hook that tells plugins what happened (a run or stage began or ended); its results are not read."""

    name: str

    def __post_init__(self) -> None:
        _declare(self)

    def __call__(self, plugins: Plugins, **kwargs: Any) -> None:
        _call(plugins, self.name, kwargs)
