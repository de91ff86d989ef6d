"""pluggy: a hook implementation's function, replaced after registration.

pluggy calls ``HookImpl.function`` with the arguments the implementation asked for; the attribute is documented but
typed ``Final``. The engine replaces it, once per registered implementation, with a function that calls the
original and says whose answer it was (:mod:`stillroom.plugin_boundary`): the only per-implementation point pluggy
offers that keeps its own call loop (wrappers, tracing, ``firstresult``) in charge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pluggy import HookImpl


def replace_function(impl: HookImpl, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Have pluggy call ``wrap(impl.function)`` for ``impl`` from now on, with the same arguments."""
    impl.function = wrap(impl.function)  # type: ignore[misc]
