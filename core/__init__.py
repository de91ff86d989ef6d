"""stillroom: turn a written product policy into a small, fast ranking model.

The public plugin API is :mod:`stillroom.hookspecs`; plugins mark their hooks with
:data:`hookimpl`.
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
