"""How something a plugin, a config or a script uses keeps working for one minor release after it changes.

Each change CHANGELOG.md lists under "Deprecated" goes through :func:`deprecated`: until :data:`REMOVED_IN` it
warns (a :class:`~stillroom.errors.StillroomDeprecationWarning`, which ``stillroom`` prints as a ``stillroom:
warning:`` line) and the old form still works; from that release on the same words stop the command as bad input.
So the removal needs no code change: the version number moving past it is the switch.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

from packaging.version import InvalidVersion, Version

from stillroom.errors import StillroomDeprecationWarning, StillroomError

REMOVED_IN = "0.3.0"
"""The release in which what 0.2.0 deprecated stops working."""


def _installed() -> str:
    from stillroom import __version__

    return __version__


def removed(removed_in: str = REMOVED_IN, version: str | None = None) -> bool:
    """Whether this stillroom (or ``version``) is at or past ``removed_in``; a source tree never installed is not."""
    try:
        return Version(version or _installed()) >= Version(removed_in)
    except InvalidVersion:
        return False


def deprecated(change: str, *, where: str | None = None, removed_in: str = REMOVED_IN, stacklevel: int = 3) -> None:
    """The old form ``change`` describes still works until ``removed_in``, with a warning; from ``removed_in`` on, the
    same words are a :class:`StillroomError`. ``change`` says what changed and what to write instead: "config key
    'gate.compliance' is now 'compliance.mode'"."""
    if removed(removed_in):
        raise StillroomError(f"{change}; the old form stopped working in stillroom {removed_in}", where=where)
    said = f"{where}: " if where else ""
    warnings.warn(f"{said}{change}; the old form stops working in stillroom {removed_in}", StillroomDeprecationWarning, stacklevel=stacklevel)


def moved_module(old: str, new: str, removed_in: str = REMOVED_IN) -> Callable[[str], Any]:
    """The ``__getattr__`` of a module left at ``old`` after its code moved to ``new``: each name still resolves,
    from ``new``, with a warning to import it from there (the new module loads only when a name is asked for, so
    the old path imports nothing of the layer the code moved to)."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        deprecated(f"module {old!r} moved to {new!r}: import {name} from there (or from stillroom.api, where it is public)", removed_in=removed_in)
        return getattr(importlib.import_module(new), name)

    return __getattr__
