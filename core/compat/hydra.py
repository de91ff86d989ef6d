"""Hydra internals: how a basic multirun sweep expands into jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


def split_sweep(parsed_overrides: Sequence[Any]) -> list[list[str]]:
    """The overrides of each job a basic multirun sweep over ``parsed_overrides`` runs (Hydra's own expansion)."""
    return [list(job) for batch in BasicSweeper.split_arguments(list(parsed_overrides), None) for job in batch]
