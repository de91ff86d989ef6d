"""Hydra internals: how a basic multirun sweep expands into jobs, and which config files a composition merges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode


def split_sweep(parsed_overrides: Sequence[Any]) -> list[list[str]]:
    """The overrides of each job a basic multirun sweep over ``parsed_overrides`` runs (Hydra's own expansion)."""
    return [list(job) for batch in BasicSweeper.split_arguments(list(parsed_overrides), None) for job in batch]


@dataclass(frozen=True)
class MergedConfig:
    """One config file a composition merges: its path in the config tree (``product/feed``) and the package its values
    land in (``""`` for ``_global_``, ``product`` for a product config without a header)."""

    path: str
    package: str


def merge_order(config_name: str, overrides: Sequence[str]) -> list[MergedConfig] | None:
    """The config files composing ``config_name`` with ``overrides`` merges, first to last (Hydra's defaults list, as
    ``--info defaults`` prints it); ``None`` outside a Hydra app (no global Hydra to ask)."""
    hydra = GlobalHydra.instance()
    if not hydra.is_initialized():
        return None
    defaults = hydra.config_loader().compute_defaults_list(config_name, list(overrides), RunMode.RUN).defaults
    return [MergedConfig(str(item.config_path), item.package or "") for item in defaults if item.config_path is not None]


def config_file(path: str) -> tuple[str, dict[str, Any]]:
    """Where the config at ``path`` (``product/feed``) is found on the search path, and its values as written there
    (``defaults`` included, nothing merged)."""
    for source in GlobalHydra.instance().config_loader().get_sources():
        if source.is_config(path):
            return f"{source.full_path().rstrip('/')}/{path}.yaml", dict(source.load_config(path).config)
    raise FileNotFoundError(path)
