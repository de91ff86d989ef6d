"""A cross-encoder with its base model's similarity as a prior starts where zero-shot is, and only the correction learns."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from scipy.stats import spearmanr

from stillroom.errors import StillroomError
from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.models import hf_builders
from stillroom.policy.source import load_policy
from stillroom.ranker import BuildContext, expected_grade, for_inference, model_state
from tests.helpers import PRIOR_CANDIDATES, PRIOR_REQUESTS


@pytest.fixture(scope="module")
def context() -> BuildContext:
    policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
    return BuildContext(num_labels=4, teacher=None, label_names=tuple(label.name for label in policy.labels), policy=policy, precedents=())


def _config(folder: Path, **extra) -> dict:
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["query", "value"], "layers": None}
    return {"name": "hf_cross_encoder", "pretrained": str(folder), "tokenizer": str(folder), "max_length": 32, "pooling": "mean",
            "dropout": 0.1, "similarity_prior": True, "lora": lora, **extra}


def _scores(model, requests=PRIOR_REQUESTS, candidates=PRIOR_CANDIDATES) -> torch.Tensor:
    with torch.no_grad():
        return expected_grade(torch.softmax(model(**model.tokenize(requests, candidates)), dim=-1))


def test_at_step_zero_it_ranks_exactly_as_zero_shot_in_training_mode_too(tiny_encoder_folder: Path, context: BuildContext) -> None:
    config = _config(tiny_encoder_folder)
    teacher = hf_builders.build_pretrained(config, context, "teacher").train()  # dropout on: the correction is zero, so it cannot move
    zero_shot = hf_builders.build_zero_shot(config, context).score(PRIOR_REQUESTS, PRIOR_CANDIDATES)
    assert spearmanr(_scores(teacher).numpy(), zero_shot.numpy()).statistic == pytest.approx(1.0)


def test_training_the_adapter_moves_the_correction_never_the_prior(tiny_encoder_folder: Path, context: BuildContext) -> None:
    teacher = hf_builders.build_pretrained(_config(tiny_encoder_folder), context, "teacher")
    sides = teacher.tokenize(PRIOR_REQUESTS, PRIOR_CANDIDATES)
    before = teacher.model.similarity({k: v for k, v in sides.items() if k.startswith(("request", "candidate"))})
    torch.manual_seed(0)
    with torch.no_grad():
        for name, weight in teacher.model.named_parameters():
            if "lora_B" in name or name.startswith("classifier."):
                weight.normal_(0, 0.5)
    teacher.model._embeddings.clear()  # computed again from the encoder, adapter off
    after = teacher.model.similarity({k: v for k, v in sides.items() if k.startswith(("request", "candidate"))})
    assert torch.allclose(before, after, atol=1e-6)
    assert spearmanr(_scores(teacher).numpy(), before.numpy()).statistic < 0.99  # the correction now reorders pairs


def test_its_inference_form_keeps_the_adapter_apart_and_scores_alike(tiny_encoder_folder: Path, context: BuildContext) -> None:
    teacher = hf_builders.build_pretrained(_config(tiny_encoder_folder), context, "teacher")
    with torch.no_grad():
        for name, weight in teacher.model.named_parameters():
            if "lora_B" in name or name.startswith("classifier."):
                weight.normal_(0, 0.2)
    served = for_inference(teacher)
    assert torch.allclose(_scores(teacher.eval()), _scores(served), atol=1e-6)
    fresh = hf_builders.build_pretrained(_config(tiny_encoder_folder), context, "teacher")
    fresh.load_state_dict(model_state(teacher))  # the cuts and the scale are saved; the remembered embeddings are not
    assert torch.allclose(_scores(fresh.eval()), _scores(served), atol=1e-6)


def test_a_prior_needs_a_mean_pooled_encoder_with_an_adapter(tiny_encoder_folder: Path, context: BuildContext) -> None:
    with pytest.raises(StillroomError, match="needs pooling: mean and lora") as caught:
        hf_builders.build_pretrained(_config(tiny_encoder_folder, lora=None), context, "teacher")
    assert caught.value.where == "teacher.similarity_prior"
