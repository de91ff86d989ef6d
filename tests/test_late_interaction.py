"""The late-interaction student: token states meet in one cross-attention, candidates cached when serving, frozen states read once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stillroom.errors import StillroomError
from stillroom.plugins.models.late_interaction import PAIR_WIDTH, LateInteractionRanker, load_late_interaction_folder
from tests.helpers import LATE_CANDIDATES, LATE_REQUESTS, EncoderCalls, build_late_interaction, late_interaction_config


def _pairs(requests: list[str], candidates: list[str]) -> tuple[list[str], list[str]]:
    return [r for r in requests for _ in candidates], [c for _ in requests for c in candidates]


def _scores(model: LateInteractionRanker, requests: list[str], candidates: list[str]) -> torch.Tensor:
    with torch.no_grad():
        return model(**model.tokenize(requests, candidates))


def test_a_pair_scores_the_same_in_any_batch(tiny_encoder_folder: Path) -> None:
    """Padding and batch-mates change nothing: each side attends to the other side's real tokens only."""
    model = build_late_interaction(late_interaction_config(tiny_encoder_folder)).eval()
    requests, candidates = _pairs(LATE_REQUESTS, LATE_CANDIDATES)
    together = _scores(model, requests, candidates)
    apart = torch.cat([_scores(_build_copy(model), [r], [c]) for r, c in zip(requests, candidates, strict=True)])
    assert together.shape == (6, 4)
    assert torch.allclose(together, apart, atol=1e-4)  # float32 rounding differs with padding; a leak through it moves logits by far more
    assert not torch.allclose(together[0], together[1])  # the candidate matters


def _build_copy(model: LateInteractionRanker) -> LateInteractionRanker:
    """The same weights without the candidate cache, so each pair is computed from scratch."""
    copy = LateInteractionRanker(model.encoder, model.tokenizer, model.max_length, model.num_labels, **model.settings())
    copy.load_state_dict(model.state_dict())
    return copy.eval()


def test_each_side_reads_the_other_through_the_cross_attention(tiny_encoder_folder: Path) -> None:
    """The request's reading of a candidate changes with the candidate's tokens, not only with its pooled vector."""
    model = build_late_interaction(late_interaction_config(tiny_encoder_folder)).eval()
    features = model.tokenize(*_pairs(LATE_REQUESTS, LATE_CANDIDATES))
    with torch.no_grad():
        logits, pair = model.forward_with_hidden(**features)
        model.request.qkv.weight.zero_()
        model.candidate.qkv.weight.zero_()
        model.request.qkv.bias.zero_()
        model.candidate.qkv.bias.zero_()
        model.train().eval()  # drop the candidate cache
        without_attention = model(**features)
    assert pair.shape == (6, PAIR_WIDTH)  # what hidden_mse reads
    assert not torch.allclose(logits, without_attention, atol=1e-4)


def test_the_encoder_is_frozen_cut_at_the_layer_read_and_only_the_rest_trains(tiny_encoder_folder: Path) -> None:
    model = build_late_interaction(late_interaction_config(tiny_encoder_folder, layer=1))
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"request", "candidate", "mlp", "head"}
    assert len(model.encoder.encoder.layer) == 1
    assert len(build_late_interaction(late_interaction_config(tiny_encoder_folder, layer=2)).encoder.encoder.layer) == 2


def test_serving_encodes_each_candidate_once_and_every_request_each_time(tiny_encoder_folder: Path) -> None:
    model = build_late_interaction(late_interaction_config(tiny_encoder_folder)).eval()
    calls = EncoderCalls(model)
    requests, candidates = _pairs(LATE_REQUESTS, LATE_CANDIDATES)
    first = _scores(model, requests, candidates)
    assert calls.texts == 2 + 3  # two distinct requests, three distinct candidates
    second = _scores(model, requests, candidates)
    assert calls.texts == 5 + 2  # candidates came from the cache; requests were encoded again
    assert torch.allclose(first, second)


def test_training_reads_each_text_through_the_frozen_encoder_once(tiny_encoder_folder: Path) -> None:
    model = build_late_interaction(late_interaction_config(tiny_encoder_folder)).train()
    calls = EncoderCalls(model)
    features = model.tokenize(*_pairs(LATE_REQUESTS, LATE_CANDIDATES))
    model(**features).logsumexp(-1).mean().backward()
    model(**features)
    assert calls.texts == 5
    assert model.request.project.weight.grad is not None and model.candidate.qkv.weight.grad is not None


def test_saved_folder_reloads_with_the_same_scores(tiny_encoder_folder: Path, tmp_path: Path) -> None:
    model = build_late_interaction(late_interaction_config(tiny_encoder_folder)).eval()
    requests, candidates = _pairs(LATE_REQUESTS, LATE_CANDIDATES)
    model.save_pretrained(tmp_path)
    reloaded = load_late_interaction_folder(tmp_path)
    assert reloaded.settings() == model.settings()
    assert torch.allclose(_scores(model, requests, candidates), _scores(reloaded, requests, candidates), atol=1e-6)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"layer": 3}, r"student\.layer.*from 0 \(the embeddings\) to 2"),
        ({"layer": -1}, r"student\.layer.*from 0 \(the embeddings\) to 2"),
        ({"interaction_dim": 10, "heads": 4}, r"interaction_dim.*divisible by heads"),
    ],
)
def test_a_bad_shape_is_a_clear_error(tiny_encoder_folder: Path, overrides: dict, message: str) -> None:
    with pytest.raises(StillroomError, match=message):
        build_late_interaction(late_interaction_config(tiny_encoder_folder, **overrides))


def test_a_pickled_student_scores_alike_with_its_hidden_states_and_so_does_the_original(tiny_encoder_folder: Path) -> None:
    """What ddp_spawn does to a model: pickling drops transformers' recording hooks, and both copies hook every layer again."""
    import pickle

    model = build_late_interaction(late_interaction_config(tiny_encoder_folder)).eval()
    features = model.tokenize(LATE_REQUESTS, LATE_CANDIDATES[:2])
    with torch.no_grad():
        before = model.forward_with_hidden(**features)
        copy = pickle.loads(pickle.dumps(model))
        for scored in (model.forward_with_hidden(**features), copy.forward_with_hidden(**features)):
            assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(before, scored, strict=True))
