"""The bi-encoder student starts where zero-shot is, learns only its adapters and head, and serves from its cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from scipy.stats import spearmanr

from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.models import hf_builders
from stillroom.plugins.models.bi_encoder import load_bi_encoder_folder
from stillroom.policy.source import load_policy
from stillroom.ranker import BuildContext, expected_grade
from tests.helpers import PRIOR_CANDIDATES, PRIOR_REQUESTS


@pytest.fixture(scope="module")
def context() -> BuildContext:
    policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
    return BuildContext(num_labels=4, teacher=None, label_names=tuple(label.name for label in policy.labels), policy=policy, precedents=())


def _config(folder: Path) -> dict:
    return {"name": "bi_encoder", "pretrained": str(folder), "tokenizer": str(folder), "max_length": 32, "adapter_hidden": 16}


def _scores(model) -> torch.Tensor:
    with torch.no_grad():
        return expected_grade(torch.softmax(model(**model.tokenize(PRIOR_REQUESTS, PRIOR_CANDIDATES)), dim=-1))


def test_at_step_zero_the_student_ranks_exactly_as_zero_shot(tiny_encoder_folder: Path, context: BuildContext) -> None:
    config = _config(tiny_encoder_folder)
    student = hf_builders.build_bi_encoder(config, context, "student").train()
    zero_shot = hf_builders.build_zero_shot({**config, "name": "hf_cross_encoder"}, context).score(PRIOR_REQUESTS, PRIOR_CANDIDATES)
    assert spearmanr(_scores(student).numpy(), zero_shot.numpy()).statistic == pytest.approx(1.0)
    trainable = {name for name, p in student.named_parameters() if p.requires_grad}
    assert trainable and not any(name.startswith("encoder.") for name in trainable)  # the encoder stays as it shipped


def test_a_trained_student_moves_off_zero_shot_saves_and_loads_with_the_same_scores(
    tiny_encoder_folder: Path, context: BuildContext, tmp_path: Path
) -> None:
    student = hf_builders.build_bi_encoder(_config(tiny_encoder_folder), context, "student")
    before = _scores(student.eval())
    torch.manual_seed(0)
    with torch.no_grad():
        for adapter in (student.request_adapter, student.candidate_adapter):
            adapter.down.weight.normal_(0, 0.5)
    student.train().eval()  # a mode switch drops the cached candidate vectors
    moved = _scores(student)
    assert spearmanr(moved.numpy(), before.numpy()).statistic < 0.999
    student.save_pretrained(tmp_path / "student")
    loaded = load_bi_encoder_folder(tmp_path / "student")
    assert torch.allclose(_scores(loaded), moved, atol=1e-5)
    assert torch.allclose(_scores(loaded), moved, atol=1e-5)  # the second call is served from the candidate cache
    assert len(loaded._candidates) == len(set(PRIOR_CANDIDATES))


def test_a_student_reading_the_first_stage_score_starts_at_zero_shot_learns_its_weight_and_keeps_it_saved(
    tiny_encoder_folder: Path, context: BuildContext, tmp_path: Path
) -> None:
    from stillroom.features import INPUT, model_inputs

    student = hf_builders.build_bi_encoder({**_config(tiny_encoder_folder), "features": ["first_stage_score"]}, context, "student").eval()
    assert student.pair_features == ("first_stage_score",)
    rows = [{"first_stage_score": float(i % 3) / 2} for i in range(len(PRIOR_REQUESTS))]
    inputs = model_inputs(student, PRIOR_REQUESTS, PRIOR_CANDIDATES, rows)
    assert inputs[INPUT].shape == (len(PRIOR_REQUESTS), 1)

    def scores(model) -> torch.Tensor:
        with torch.no_grad():
            return expected_grade(torch.softmax(model(**inputs), dim=-1))

    plain = _scores(hf_builders.build_bi_encoder(_config(tiny_encoder_folder), context, "student").eval())
    assert torch.allclose(scores(student), plain, atol=1e-6)  # the feature's weight starts at zero
    with torch.no_grad():
        student.feature_weights.weight.fill_(0.2)
    student.train().eval()
    moved = scores(student)
    top = {**inputs, INPUT: torch.ones_like(inputs[INPUT])}
    with torch.no_grad():
        at_the_top = expected_grade(torch.softmax(student(**top), dim=-1))
    assert bool((at_the_top > moved).any()) and bool((at_the_top >= moved - 1e-6).all())  # a higher first-stage score ranks higher
    student.save_pretrained(tmp_path / "student")
    loaded = load_bi_encoder_folder(tmp_path / "student")
    assert loaded.pair_features == ("first_stage_score",) and torch.allclose(scores(loaded), moved, atol=1e-5)
    with pytest.raises(ValueError, match="reads first_stage_score: pass pair_features"):
        loaded(**loaded.tokenize(PRIOR_REQUESTS, PRIOR_CANDIDATES))


@pytest.mark.parametrize("learn", [False, True])
def test_the_first_stage_weight_stays_as_the_fusion_set_it_unless_the_config_asks_to_learn_it(
    tiny_encoder_folder: Path, context: BuildContext, learn: bool
) -> None:
    from stillroom.features import model_inputs

    config = {**_config(tiny_encoder_folder), "features": ["first_stage_score"], "learn_feature_weights": learn}
    student = hf_builders.build_bi_encoder(config, context, "student")
    student.set_fusion_weights([0.5, 0.5])
    rows = [{"first_stage_score": float(i % 3) / 2} for i in range(len(PRIOR_REQUESTS))]
    inputs = model_inputs(student.train(), PRIOR_REQUESTS, PRIOR_CANDIDATES, rows)
    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        student(**inputs)[:, -1].sum().backward()  # push every pair towards the top grade
        optimizer.step()
    weight = float(student.feature_weights.weight.detach())
    assert (weight != pytest.approx(1.0)) is learn
    assert bool(student.feature_weights.weight.requires_grad) is learn


def test_an_exported_bi_encoder_loads_in_sentence_transformers_and_scores_as_stillroom_score(
    tiny_encoder_folder: Path, context: BuildContext, tmp_path: Path
) -> None:
    """The exported folder is a sentence-transformers model: its query and document embeddings give the cosine the
    student reads, and stillroom_score.json turns that cosine into the very scores `stillroom score` writes."""
    import json

    from sentence_transformers import SentenceTransformer

    from stillroom.cli import main
    from stillroom.plugins.models.sentence_transformers_export import score_from_cosine
    from tests.data_fixtures import write_jsonl

    student = hf_builders.build_bi_encoder(_config(tiny_encoder_folder), context, "student")
    torch.manual_seed(0)
    with torch.no_grad():
        for adapter in (student.request_adapter, student.candidate_adapter):
            adapter.down.weight.normal_(0, 0.5)  # the two sides differ: encode_query and encode_document must route
        student.head.first_cut.fill_(0.35)
    folder = tmp_path / "student"
    student.eval().save_pretrained(folder)
    pairs = enumerate(zip(PRIOR_REQUESTS, PRIOR_CANDIDATES, strict=True))
    rows = [{"request_id": f"r{i // 4}", "request_text": q, "candidate_text": c} for i, (q, c) in pairs]
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    scoring = ["--input", str(tmp_path / "pairs.jsonl"), "--output", str(tmp_path / "scores.jsonl"), "--backend", "torch"]
    assert main(["score", "--model", str(folder), *scoring]) == 0
    scored = torch.tensor([json.loads(line)["score"] for line in (tmp_path / "scores.jsonl").read_text().splitlines()])

    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True, trust_remote_code=True)  # the adapter is stillroom's
    queries = st.encode_query([row["request_text"] for row in rows], convert_to_tensor=True)
    documents = st.encode_document([row["candidate_text"] for row in rows], convert_to_tensor=True)
    cosine = st.similarity_pairwise(queries, documents)
    assert torch.allclose(score_from_cosine(cosine, folder), scored, atol=1e-5)
    symmetric = st.similarity_pairwise(st.encode_document([row["request_text"] for row in rows], convert_to_tensor=True), documents)
    assert not torch.allclose(symmetric, cosine, atol=1e-3)  # the request's own adapter, not the candidate's
