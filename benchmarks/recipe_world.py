"""What a benchmark starts from: the run config composed from overrides, its plugins, policy and data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hydra import compose, initialize_config_module

from stillroom.config.schema import validate_config
from stillroom.data import DataBundle, read_data_source
from stillroom.plugin_manager import Plugins, get_plugin_manager
from stillroom.policy import Policy
from stillroom.policy.source import load_policy


@dataclass(frozen=True)
class RecipeWorld:
    config: dict[str, Any]
    plugins: Plugins
    policy: Policy
    bundle: DataBundle


def recipe_world(overrides: Sequence[str]) -> RecipeWorld:
    """The config ``stillroom run OVERRIDES`` would run (no logger), on the trainer's thread count, with its product's data."""
    with initialize_config_module(config_module="stillroom.conf", version_base="1.3"):
        config = validate_config(compose(config_name="config", overrides=["logger=none", *overrides]))
    torch.set_num_threads(int(config["trainer"]["num_threads"]))
    plugins = get_plugin_manager()
    policy = load_policy(config["product"]["policy"], plugins)
    bundle = read_data_source(plugins, config["product"]["name"], config["data"], policy, config["seed"])
    return RecipeWorld(config, plugins, policy, bundle)
