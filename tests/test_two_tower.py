"""The two-tower student: one dot product per pair, candidates cached when serving, frozen features computed once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stillroom.config.schema import validate_config
from stillroom.errors import StillroomError
from stillroom.plugins.models.pooling import mean_pool
from stillroom.plugins.models.two_tower import TwoTowerRanker, load_two_tower_folder
from stillroom.ranker import BuildContext, expected_grade
from tests.helpers import EncoderCalls, build_with_plugins, compose_config

REQUESTS = ["Senior Data Engineer | Spark, SQL | Berlin", "Junior Nurse | Patient Care | Paris"]
CANDIDATES = ["Data Engineer | Spark | Berlin | remote", "Nurse | Patient Care | Paris | onsite", "Chef | Cooking | Rome | onsite"]


def _config(folder: Path, **overrides) -> dict:
    config = validate_config(compose_config("student=two_tower", f"student.pretrained={folder}", f"student.tokenizer={folder}"))["student"]
    return {**config, "tower_hidden": 16, "embedding_dim": 8, "request_layers": [1, 2], "candidate_layers": [1, 2], **overrides}


def _build(config: dict) -> TwoTowerRanker:
    return build_with_plugins("student", config, BuildContext(4))


def _pairs(requests, candidates):
    return [r for r in requests for _ in candidates], [c for _ in requests for c in candidates]


def test_the_score_is_one_dot_product_and_the_expected_grade_ranks_by_it(tiny_encoder_folder: Path) -> None:
    model = _build(_config(tiny_encoder_folder)).eval()
    requests, candidates = _pairs(REQUESTS, CANDIDATES)
    features = model.tokenize(requests, candidates)
    with torch.no_grad():
        probs = model(**features).softmax(-1)
        u = model.encode_requests(features["request_ids"], features["request_mask"])
        v = model.encode_candidates(features["candidate_ids"], features["candidate_mask"])
        dots = (u * v).sum(-1)
    assert probs.shape == (6, 4) and torch.allclose(probs.sum(-1), torch.ones(6))
    assert expected_grade(probs).argsort().tolist() == dots.argsort().tolist()
    with torch.no_grad():
        _, interaction = model.forward_with_hidden(**features)  # what hidden_mse reads: the product whose sum is the score
    assert torch.allclose(interaction.sum(-1), dots, atol=1e-5)


def test_the_encoder_is_frozen_and_only_the_towers_and_head_train(tiny_encoder_folder: Path) -> None:
    model = _build(_config(tiny_encoder_folder))
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"request_tower", "candidate_tower", "head"}
    assert len(model.encoder.encoder.layer) == 2  # cut after the deepest pooled layer
    assert len(_build(_config(tiny_encoder_folder, request_layers=[1], candidate_layers=[1])).encoder.encoder.layer) == 1


def test_serving_encodes_each_candidate_once_and_every_request_each_time(tiny_encoder_folder: Path) -> None:
    model = _build(_config(tiny_encoder_folder)).eval()
    calls = EncoderCalls(model)
    features = model.tokenize(*_pairs(REQUESTS, CANDIDATES))
    with torch.no_grad():
        first = model(**features)
        assert calls.texts == 2 + 3  # two distinct requests, three distinct candidates
        second = model(**features)
    assert calls.texts == 5 + 2  # candidates came from the cache; requests were encoded again
    assert torch.allclose(first, second)
    model.train()
    model.eval()
    with torch.no_grad():
        model(**features)
    assert calls.texts == 7 + 5  # a mode switch drops the cache: the towers may have changed


def _layer_runs(model: TwoTowerRanker) -> list[int]:
    """Texts each encoder layer reads, counted as the model runs."""
    runs = [0] * len(model.encoder.encoder.layer)
    for index, layer in enumerate(model.encoder.encoder.layer):
        layer.register_forward_hook(lambda module, args, output, index=index: runs.__setitem__(index, runs[index] + args[0].shape[0]))
    return runs


def test_each_side_runs_the_encoder_only_as_deep_as_it_reads(tiny_encoder_folder: Path) -> None:
    model = _build(_config(tiny_encoder_folder, request_layers=[0], candidate_layers=[2])).eval()
    runs = _layer_runs(model)
    features = model.tokenize(*_pairs(REQUESTS, CANDIDATES))
    with torch.no_grad():
        model(**features)
        assert runs == [3, 3]  # the three candidates, through both layers; the requests read the embeddings alone
        model(**features)
    assert runs == [3, 3]  # candidates cached: serving runs no encoder layer at all


def test_a_shallow_side_reads_what_a_full_pass_gives_at_its_layers(tiny_encoder_folder: Path) -> None:
    model = _build(_config(tiny_encoder_folder, request_layers=[0, 1], candidate_layers=[2])).eval()
    features = model.tokenize(REQUESTS, REQUESTS)
    ids, mask = features["request_ids"], features["request_mask"]
    with torch.no_grad():
        shallow = model.encode_requests(ids, mask)
        states = model.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        full = model.request_tower(torch.cat([mean_pool(states[0], mask), mean_pool(states[1], mask)], dim=-1))
    assert len(states) == 3 and torch.allclose(shallow, full, atol=1e-5)


def test_training_reads_each_text_through_the_frozen_encoder_once(tiny_encoder_folder: Path) -> None:
    model = _build(_config(tiny_encoder_folder)).train()
    calls = EncoderCalls(model)
    features = model.tokenize(*_pairs(REQUESTS, CANDIDATES))
    loss = model(**features).logsumexp(-1).mean()
    loss.backward()
    model(**features)
    assert calls.texts == 5
    assert model.request_tower[0].weight.grad is not None


def test_saved_folder_reloads_with_the_same_scores(tiny_encoder_folder: Path, tmp_path: Path) -> None:
    model = _build(_config(tiny_encoder_folder)).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.candidate_tower[2].weight)  # not the freshly built weights
    features = model.tokenize(*_pairs(REQUESTS, CANDIDATES))
    model.save_pretrained(tmp_path)
    reloaded = load_two_tower_folder(tmp_path)
    with torch.no_grad():
        assert torch.allclose(model(**features), reloaded(**reloaded.tokenize(*_pairs(REQUESTS, CANDIDATES))), atol=1e-6)


def test_layers_beyond_the_encoder_are_a_clear_error(tiny_encoder_folder: Path) -> None:
    with pytest.raises(StillroomError, match=r"from 0 \(the embeddings\) to 2"):
        _build(_config(tiny_encoder_folder, request_layers=[3]))
