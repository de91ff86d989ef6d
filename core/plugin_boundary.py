"""Where the engine receives what a plugin made: the call names its plugin and hook, and the result is checked.

A plugin's mistake (an exception in its hook, a result of the wrong type, a
label off the policy's scale) found three stages later is a crash in code the
plugin's author never read. Found here, it is one line that names the plugin,
the hook and what was wrong, exit status 2 like any other bad input, before any
stage is marked complete. ``HYDRA_FULL_ERROR=1`` shows the traceback behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pluggy import HookCaller, HookImpl

from stillroom.errors import StillroomError


class PluginBroke(StillroomError):
    """A plugin's hook raised, or returned what its contract does not allow; ``where`` names the plugin and hook."""

    def __init__(self, message: str, plugin: str, hook: str) -> None:
        self.plugin, self.hook = plugin, hook
        super().__init__(message, where=f"plugin {plugin!r}, {hook}")


@contextmanager
def plugin_call(plugin: str, hook: str) -> Iterator[None]:
    """Run a plugin's code; an exception from it becomes a :class:`PluginBroke` naming the plugin and the hook.

    A :class:`StillroomError` passes through as it is: the plugin already said what was wrong with the input
    (a data file's line, a missing model).
    """
    try:
        yield
    except StillroomError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a plugin raises, the user is told whose it is
        raise PluginBroke(f"raised {type(exc).__name__}: {exc}", plugin, hook) from exc


def _in_call_order(caller: HookCaller) -> list[HookImpl]:
    """The hook's implementations in the order pluggy calls them (the plugin registered last first), wrappers left out."""
    return [impl for impl in reversed(caller.get_hookimpls()) if not (impl.hookwrapper or impl.wrapper)]


def contributions(caller: HookCaller, items: type | None = None, expected: str = "") -> list[tuple[str, Any]]:
    """A contribute-many hook's results, each with the name of the plugin that gave it, in pluggy's call order
    (the plugin registered last first, so a later plugin can replace a built-in of the same name). A plugin that
    returns ``None`` contributes nothing, as pluggy has it; one that returns something other than a list or tuple
    is told so, and, when ``items`` is given, one whose list holds something else is told it expected ``expected``
    (``"a list of LossSpec"``)."""
    results = []
    for impl in _in_call_order(caller):  # one by one, so that each result keeps its plugin's name
        with plugin_call(impl.plugin_name, caller.name):
            result = impl.function()
        if result is None:
            continue
        if not isinstance(result, (list, tuple)):
            raise PluginBroke(f"returned {type(result).__name__}, expected a list", impl.plugin_name, caller.name)
        if items is not None and not all(isinstance(item, items) for item in result):
            raise PluginBroke(f"returned {result!r}, expected {expected}", impl.plugin_name, caller.name)
        results.append((impl.plugin_name, result))
    return results


def first_answer(caller: HookCaller, **kwargs: Any) -> tuple[str, Any] | None:
    """A first-answer hook's result with the name of the plugin that gave it (``None`` when no plugin answers): the
    implementations are asked in pluggy's order, and the first that returns something other than ``None`` answers."""
    for impl in _in_call_order(caller):
        with plugin_call(impl.plugin_name, caller.name):
            result = impl.function(*(kwargs[name] for name in impl.argnames))
        if result is not None:
            return impl.plugin_name, result
    return None


def checked(answer: tuple[str, Any], hook: str, problem: Callable[[Any], str | None]) -> Any:
    """The answer's result when ``problem`` finds nothing wrong with it; else a :class:`PluginBroke` that says what."""
    plugin, result = answer
    if message := problem(result):
        raise PluginBroke(message, plugin, hook)
    return result


def instance_of(expected: type | tuple[type, ...], name: str) -> Callable[[Any], str | None]:
    """A contract that asks for an instance of ``expected`` (called ``name`` in the message)."""
    return lambda result: None if isinstance(result, expected) else f"returned {type(result).__name__}, expected {name}"
