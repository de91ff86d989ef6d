"""The artifact store: atomic writes, completion records that notice tampering."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stillroom.artifacts import ArtifactStore
from stillroom.files import atomic_path, fingerprint


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
    assert store.changed_output("s") is None
    store.path("s", "out.json").write_text('{"v": 2}')
    assert store.completed_fingerprint("s") is None
    assert store.changed_output("s") == "s/out.json no longer matches its checksum"
    store.path("s", "out.json").unlink()
    assert store.changed_output("s") == "s/out.json is missing"


def test_fingerprint_is_stable_and_sensitive() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})




def test_a_stage_that_runs_again_starts_from_an_empty_folder_but_keeps_its_checkpoints(tmp_path: Path) -> None:
    """An optional output the new run does not write (a withheld export, a pruning record) must not outlive its inputs."""
    store = ArtifactStore(tmp_path)
    store.write_json("export", "summary.json", {"a": 1})
    (tmp_path / "export" / "student").mkdir()
    (tmp_path / "export" / "student" / "model.safetensors").write_bytes(b"old")
    checkpoint = store.checkpoint_dir("export", "f" * 64) / "last.ckpt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(b"resume")
    store.mark_complete("export", "f" * 64, {})
    store.invalidate("export")
    assert store.completed_fingerprint("export") is None
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["checkpoints"] and checkpoint.read_bytes() == b"resume"
