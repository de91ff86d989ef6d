"""Frozen encoders' vectors kept on disk: each text encoded once across stages and runs, never while a model is timed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.models import hf_builders
from stillroom.plugins.models.vector_store import STORE_VARIABLE, VectorStore, encoder_digest
from stillroom.policy.source import load_policy
from stillroom.ranker import BuildContext, bulk_scoring
from tests.helpers import PRIOR_CANDIDATES, PRIOR_REQUESTS, EncoderCalls


@pytest.fixture
def store_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(STORE_VARIABLE, str(tmp_path / "vectors"))
    return tmp_path / "vectors"


def _context() -> BuildContext:
    policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
    return BuildContext(num_labels=4, label_names=tuple(label.name for label in policy.labels), policy=policy)


def _student(folder: Path):
    config = {"name": "bi_encoder", "pretrained": str(folder), "tokenizer": str(folder), "max_length": 32, "adapter_hidden": 16}
    return hf_builders.build_bi_encoder(config, _context(), "student")


def test_a_store_keeps_what_was_encoded_and_a_new_process_reads_it_without_encoding(tmp_path: Path) -> None:
    calls: list[list[int]] = []

    def encode(rows: list[int]) -> torch.Tensor:
        calls.append(rows)
        return torch.arange(len(rows) * 3, dtype=torch.float32).reshape(len(rows), 3) + 10 * len(calls)

    store = VectorStore(tmp_path / "store")
    first = store.vectors([b"a", b"b", b"a"], encode)
    assert calls == [[0, 1]] and torch.equal(first[0], first[2])  # each distinct text encoded once
    store.flush()
    again = VectorStore(tmp_path / "store").vectors([b"b", b"c"], encode)  # as a later run sees it
    assert calls == [[0, 1], [1]] and torch.equal(again[0], first[1])
    assert len(list((tmp_path / "store").glob("*.safetensors"))) == 1 and not list((tmp_path / "store").glob("*.tmp"))


def test_an_encoder_is_named_by_its_files_so_retrained_weights_get_a_store_of_their_own(tiny_encoder_folder: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(tiny_encoder_folder, tmp_path / "copy"))
    assert encoder_digest(copy) == encoder_digest(tiny_encoder_folder)  # the same weights, elsewhere
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert encoder_digest(copy) != encoder_digest(tiny_encoder_folder)


def test_bulk_scoring_reads_the_store_and_timed_scoring_encodes_what_it_serves(tiny_encoder_folder: Path, store_home: Path) -> None:
    first = _student(tiny_encoder_folder).eval()
    inputs = first.tokenize(PRIOR_REQUESTS, PRIOR_CANDIDATES)
    with bulk_scoring(first), torch.no_grad():
        expected = first(**inputs)
    assert list(store_home.rglob("*.safetensors"))  # written when bulk scoring ended

    later = _student(tiny_encoder_folder).eval()  # a later stage or run, the same base
    calls = EncoderCalls(later)
    with bulk_scoring(later), torch.no_grad():
        assert torch.allclose(later(**inputs), expected, atol=1e-5)
    assert calls.texts == 0  # every request and candidate came from the store
    with torch.no_grad():
        later.train().eval()  # a fresh candidate cache, as timing starts
        later(**inputs)
    assert calls.texts == len(set(PRIOR_REQUESTS)) + len(set(PRIOR_CANDIDATES))  # timed: it encodes what it serves


def test_the_zero_shot_scorer_shares_the_bi_encoder_s_store(tiny_encoder_folder: Path, store_home: Path) -> None:
    config = {"name": "hf_cross_encoder", "pretrained": str(tiny_encoder_folder), "tokenizer": str(tiny_encoder_folder), "max_length": 32}
    scorer = hf_builders.build_zero_shot(config, _context())
    expected = scorer.score(PRIOR_REQUESTS, PRIOR_CANDIDATES)
    student = _student(tiny_encoder_folder).eval()
    calls = EncoderCalls(student)
    with bulk_scoring(student), torch.no_grad():
        student(**student.tokenize(PRIOR_REQUESTS, PRIOR_CANDIDATES))
    assert calls.texts == 0  # the vectors zero_shot wrote are the bi-encoder's base readings
    assert torch.allclose(hf_builders.build_zero_shot(config, _context()).score(PRIOR_REQUESTS, PRIOR_CANDIDATES), expected, atol=1e-5)
