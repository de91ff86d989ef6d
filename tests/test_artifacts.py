"""The artifact store: atomic writes, completion records that notice tampering."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stillroom.recipe.artifacts import ArtifactStore, atomic_path, fingerprint


def test_a_failed_write_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    target = tmp_path / "stage" / "data.jsonl"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a file")
        raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert list((tmp_path / "stage").iterdir()) == []


def test_failed_directory_artifact_keeps_the_previous_one(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with store.directory("export", "model") as folder:
        (folder / "weights").write_text("v1")
    with pytest.raises(RuntimeError), store.directory("export", "model") as folder:
        (folder / "weights").write_text("v2, half")
        raise RuntimeError
    assert (tmp_path / "export" / "model" / "weights").read_text() == "v1"
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["model"]


def test_round_trips(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    store.write_jsonl("s", "rows.jsonl", [{"a": 1}, {"a": 2}])
    store.write_tensors("s", "t.safetensors", {"x": torch.arange(6.0).reshape(2, 3)})
    assert store.read_jsonl("s", "rows.jsonl") == [{"a": 1}, {"a": 2}]
    assert torch.equal(store.read_tensors("s", "t.safetensors")["x"], torch.arange(6.0).reshape(2, 3))


def test_completion_is_forgotten_when_an_output_changes(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    store.write_json("s", "out.json", {"v": 1})
    outputs = store.mark_complete("s", "fp-1", {"rows": 1})
    assert set(outputs) == {"out.json"}
    assert store.completed_fingerprint("s") == "fp-1"
    assert store.completed_summary("s")["rows"] == 1
    store.path("s", "out.json").write_text('{"v": 2}')
    assert store.completed_fingerprint("s") is None


def test_fingerprint_is_stable_and_sensitive() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


