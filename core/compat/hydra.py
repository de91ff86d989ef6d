"""Hydra internals: how a basic multirun sweep expands into jobs, and which config files a composition merges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.defaults_list import create_defaults_list
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf


def split_sweep(parsed_overrides: Sequence[Any]) -> list[list[str]]:
    """The overrides of each job a basic multirun sweep over ``parsed_overrides`` runs (Hydra's own expansion)."""
    return [list(job) for batch in BasicSweeper.split_arguments(list(parsed_overrides), None) for job in batch]


@dataclass(frozen=True)
class MergedConfig:
    """One config file a composition merges: its path in the config tree (``product/feed``), the package its values
    land in (``""`` for ``_global_``, ``product`` for a product config without a header), where it was found on the
    search path, and its values as written there (interpolations unresolved, the defaults list left out)."""

    path: str
    package: str
    where: str
    values: dict[str, Any]


def merge_order(config_name: str, overrides: Sequence[str]) -> list[MergedConfig] | None:
    """The config files composing ``config_name`` with ``overrides`` merges, first to last (Hydra's defaults list, as
    ``--info defaults`` prints it), read through the same search path, a ``hydra.searchpath`` override's folders
    included; ``None`` outside a Hydra app (no global Hydra to ask)."""
    hydra = GlobalHydra.instance()
    if not hydra.is_initialized():
        return None
    parsed, repository = hydra.config_loader()._parse_overrides_and_create_caching_repo(config_name, list(overrides))
    defaults = create_defaults_list(repository, config_name, parsed, prepend_hydra=True, skip_missing=False).defaults
    merged = []
    for item in defaults:
        if item.config_path is None:
            continue
        found = repository.load_config(item.config_path)
        where = f"{str(found.path).rstrip('/')}/{item.config_path}.yaml" if found is not None else item.config_path
        merged.append(MergedConfig(str(item.config_path), item.package or "", where, _as_written(found.config) if found is not None else {}))
    return merged


def _as_written(config: Any) -> dict[str, Any]:
    """A loaded config file's values, interpolations left as written (``${hydra:...}`` resolves only in a job)."""
    return dict(OmegaConf.to_container(config, resolve=False))


def config_groups() -> set[str]:
    """The top-level config groups on the search path (``teacher``, ``loss``, ``product``, ...)."""
    return set(GlobalHydra.instance().config_loader().list_groups(""))
