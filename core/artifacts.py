"""The run's artifact store: the only way stages read and write.

Layout under the run directory: one folder per stage holding its files and a
``_complete.json`` that records the stage's input fingerprint and its outputs'
checksums. Every write is atomic (temporary name in the same folder, then
``os.replace``), so an interrupted write never leaves a file that looks
complete. Tensors are stored as safetensors and records as JSON lines: nothing
in a run directory is ever unpickled.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from stillroom.files import atomic_dir, atomic_path, folder_checksums, sha256_file, write_json

COMPLETE_MARKER = "_complete.json"
CHECKPOINTS = "checkpoints"
"""A training stage's resume points, one folder per input fingerprint; gone once the stage completes."""


class ArtifactStore:
    """Reads and writes a run's artifacts, one folder per stage.

    The lifecycle hooks (``stillroom_before_run``, ``stillroom_after_stage``...) get the run's store: read what a
    stage wrote with ``read_json(stage, name)`` and its siblings, and write files of a plugin's own in a folder of
    its own (a stage's folder is the stage's: its completion record checksums every file in it). Every write is
    atomic; tensors are stored as safetensors, records as JSON lines.

    Example::

        >>> import tempfile
        >>> from pathlib import Path
        >>> from stillroom.api import ArtifactStore
        >>> store = ArtifactStore(Path(tempfile.mkdtemp()))
        >>> path = store.write_json("my_plugin", "summary.json", {"pairs": 120})
        >>> store.read_json("my_plugin", "summary.json"), path.relative_to(store.root).as_posix()
        ({'pairs': 120}, 'my_plugin/summary.json')
        >>> store.exists("my_plugin", "missing.json")
        False
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, stage: str, name: str) -> Path:
        return self.root / stage / name

    def exists(self, stage: str, name: str) -> bool:
        return self.path(stage, name).exists()

    # -- JSON and JSON lines -------------------------------------------------

    def write_json(self, stage: str, name: str, obj: Any) -> Path:
        path = self.path(stage, name)
        write_json(path, obj)
        return path

    def read_json(self, stage: str, name: str) -> Any:
        return json.loads(self.path(stage, name).read_text(encoding="utf-8"))

    def write_jsonl(self, stage: str, name: str, rows: Iterable[Mapping[str, Any]]) -> Path:
        path = self.path(stage, name)
        with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, sort_keys=True, default=str) + "\n")
        return path

    def read_jsonl(self, stage: str, name: str) -> list[dict[str, Any]]:
        with self.path(stage, name).open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    # -- tensors ---------------------------------------------------------------

    def write_tensors(self, stage: str, name: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> Path:
        """Tensors as safetensors, with string ``metadata`` in the file's header."""
        path = self.path(stage, name)
        with atomic_path(path) as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=dict(metadata or {}))
        return path

    def read_tensors(self, stage: str, name: str) -> dict[str, torch.Tensor]:
        return load_file(str(self.path(stage, name)))

    def read_tensor_metadata(self, stage: str, name: str) -> dict[str, str]:
        with safe_open(str(self.path(stage, name)), framework="pt") as handle:
            return dict(handle.metadata() or {})

    @contextmanager
    def directory(self, stage: str, name: str) -> Iterator[Path]:
        """A folder artifact (an exported model), swapped into place on success."""
        with atomic_dir(self.path(stage, name)) as tmp:
            yield tmp

    # -- completion records ------------------------------------------------------

    def completed_fingerprint(self, stage: str) -> str | None:
        """The fingerprint a completed stage recorded; ``None`` when it never completed or its outputs changed since."""
        marker = self.path(stage, COMPLETE_MARKER)
        if not marker.exists() or self.changed_output(stage) is not None:
            return None
        return json.loads(marker.read_text(encoding="utf-8")).get("fingerprint")

    def changed_output(self, stage: str) -> str | None:
        """Why a completed stage's outputs cannot be trusted ("model.safetensors no longer matches its checksum", "...
        is missing"); ``None`` when they are as it left them, or it never completed."""
        marker = self.path(stage, COMPLETE_MARKER)
        if not marker.exists():
            return None
        for name, checksum in json.loads(marker.read_text(encoding="utf-8")).get("outputs", {}).items():
            output = self.path(stage, name)
            if not output.is_file():
                return f"{stage}/{name} is missing"
            if sha256_file(output) != checksum:
                return f"{stage}/{name} no longer matches its checksum"
        return None

    def mark_complete(self, stage: str, stage_fingerprint: str, summary: Mapping[str, Any]) -> dict[str, str]:
        """Record the stage as done: its fingerprint and every output file's sha256."""
        outputs = {name: checksum for name, checksum in folder_checksums(self.root / stage).items() if name != COMPLETE_MARKER}
        write_json(self.path(stage, COMPLETE_MARKER), {"fingerprint": stage_fingerprint, "outputs": outputs, "summary": summary})
        return outputs

    def completed_summary(self, stage: str) -> dict[str, Any]:
        """The summary a completed stage recorded, with its outputs' checksums."""
        record = self.read_json(stage, COMPLETE_MARKER)
        return {**record.get("summary", {}), "outputs": record.get("outputs", {})}

    def checkpoint_dir(self, stage: str, stage_fingerprint: str) -> Path:
        """Where ``stage`` keeps its training checkpoints for these inputs; those of other inputs are dropped."""
        folder = self.root / stage / CHECKPOINTS
        current = folder / stage_fingerprint[:16]
        for stale in folder.iterdir() if folder.is_dir() else ():
            if stale != current:
                shutil.rmtree(stale, ignore_errors=True)
        return current

    def drop_checkpoints(self, stage: str) -> None:
        shutil.rmtree(self.root / stage / CHECKPOINTS, ignore_errors=True)

    def invalidate(self, stage: str) -> None:
        """Forget a stage's completion so it runs again, and remove what its last run wrote: an optional output
        this run does not write (a pruning record, a withheld export) must not outlive the inputs that made it.
        Training checkpoints stay: they resume the stage (each is kept per input fingerprint)."""
        self.path(stage, COMPLETE_MARKER).unlink(missing_ok=True)
        folder = self.root / stage
        for entry in folder.iterdir() if folder.is_dir() else ():
            if entry.name == CHECKPOINTS:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
