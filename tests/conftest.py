"""Shared fixtures: a composed config, a throwaway plugin fixture, and one tiny finished run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
torch.set_num_threads(2)


def compose_config(*overrides: str) -> DictConfig:
    """The run config exactly as `stillroom run OVERRIDES` would compose it (Hydra's own compose API)."""
    with initialize_config_module(config_module="stillroom.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=False)


@pytest.fixture
def register_plugin() -> Iterator[Any]:
    """Register throwaway plugins on the process-wide manager; unregister them afterwards."""
    from stillroom.plugin_manager import get_plugin_manager

    manager = get_plugin_manager()
    added: list[Any] = []

    def register(plugin: Any, name: str | None = None) -> Any:
        manager.pm.register(plugin, name=name)
        added.append(plugin)
        return plugin

    yield register
    for plugin in added:
        manager.pm.unregister(plugin)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny end-to-end run in-process (tiny teacher and student, tiny world); tests read its run directory."""
    from stillroom.job import run_job

    run_dir = tmp_path_factory.mktemp("smoke_run")
    run_job(compose_config("experiment=smoke"), run_dir)
    return run_dir
