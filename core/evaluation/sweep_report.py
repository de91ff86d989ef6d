"""Moved to :mod:`stillroom.cli.sweep_report` in stillroom 0.2.0; importing from here works, with a warning, until 0.3.0."""

from stillroom.deprecation import moved_module

__getattr__ = moved_module(__name__, "stillroom.cli.sweep_report")
