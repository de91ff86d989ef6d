"""stillroom: turn a written product policy into a small, fast ranking model.

A plugin imports what it needs from :mod:`stillroom.api` (the hook marker :data:`hookimpl`, the types the hooks
take and return); the hooks themselves are declared in :mod:`stillroom.hookspecs`.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

PROJECT_NAME = "stillroom"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: ``@hookimpl def stillroom_losses(): ...``."""

try:
    __version__ = version(PROJECT_NAME)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["PROJECT_NAME", "__version__", "hookimpl"]
