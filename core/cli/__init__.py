"""The ``stillroom`` command: its subcommands, the Hydra app behind ``run``, and the checks of a run's overrides.

``stillroom.cli`` keeps the names plugins and scripts import from it; they live in :mod:`.main`.
"""

from stillroom.cli.main import main

__all__ = ["main"]
