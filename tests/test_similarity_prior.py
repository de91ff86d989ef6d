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


def test_with_features_it_fuses_them_with_the_base_cosine_its_prior_reads(tiny_encoder_folder: Path, context: BuildContext) -> None:
    from dataclasses import replace

    from stillroom.features import INPUT, CalibratesFusion, model_inputs

    teacher = hf_builders.build_pretrained(
        _config(tiny_encoder_folder, features=["first_stage_score", "by_connection"]), replace(context, features=("by_connection",)), "teacher"
    ).eval()
    assert isinstance(teacher, CalibratesFusion) and teacher.pair_features == ("first_stage_score", "by_connection")
    rows = [{"first_stage_score": 0.0, "by_connection": float(n == len(PRIOR_REQUESTS) - 1)} for n in range(len(PRIOR_REQUESTS))]
    inputs = model_inputs(teacher, PRIOR_REQUESTS, PRIOR_CANDIDATES, rows)
    columns = teacher.fusion_inputs(**inputs)
    assert columns.shape == (len(PRIOR_REQUESTS), 3) and torch.equal(columns[:, 1:], inputs[INPUT])
    with torch.no_grad():
        before = expected_grade(torch.softmax(teacher(**inputs), dim=-1))
        teacher.set_fusion_weights((1.0, 0.0, 5.0))  # a connection's candidate is worth five cosines
        after = expected_grade(torch.softmax(teacher(**inputs), dim=-1))
    assert int(after.argmax()) == len(PRIOR_REQUESTS) - 1 and not torch.equal(before, after)
    with pytest.raises(StillroomError, match="reads no pair features"):
        from stillroom.plugins.models.transformers_families import ready_to_build

        ready_to_build("teacher", {**_config(tiny_encoder_folder, features=["first_stage_score"]), "similarity_prior": False})
