"""A stage's door to the artifact store: it reads what its stage declares it reads, writes what it declares it writes.

The recipe hands each running stage its own :class:`StageIO`; an undeclared read
or write is a bug in the stage and fails at once, naming the stage and the
artifact. Code that reads a finished run from outside (a benchmark) gets one
with no stage, which may read every artifact and write none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import torch

from stillroom.artifacts import CHECKPOINTS, COMPLETE_MARKER, ArtifactStore
from stillroom.errors import BrokenDeclaration
from stillroom.stages.contracts import Artifact, Plan, Stage

BOOKKEEPING = (COMPLETE_MARKER, CHECKPOINTS)
"""The recipe's own files in a stage folder: its completion record and its training checkpoints."""


class UndeclaredArtifact(BrokenDeclaration):
    """A stage touched an artifact its declaration does not name: the contract and the code disagree."""


class StageIO:
    def __init__(self, store: ArtifactStore, plan: Plan, stage: Stage | None = None) -> None:
        self.store, self.plan, self.stage = store, plan, stage

    # -- reading ---------------------------------------------------------------

    def _located(self, name: str) -> tuple[str, str]:
        if self.stage is not None and not any(fnmatchcase(name, pattern) for pattern in self.stage.reads):
            raise UndeclaredArtifact(f"stage {self.stage.name!r} reads {name!r}, which its declaration does not list in reads")
        (writer, artifact), *others = self.plan.resolve(name)
        if others:
            raise UndeclaredArtifact(f"{name!r} names several artifacts; read them one by one")
        return writer.name, artifact.file

    def path(self, name: str) -> Path:
        return self.store.path(*self._located(name))

    def has(self, name: str) -> bool:
        """Whether the artifact is on disk (an optional one may not be)."""
        return self.path(name).exists()

    def read_json(self, name: str) -> Any:
        return self.store.read_json(*self._located(name))

    def read_jsonl(self, name: str) -> list[dict[str, Any]]:
        return self.store.read_jsonl(*self._located(name))

    def read_tensors(self, name: str) -> dict[str, torch.Tensor]:
        return self.store.read_tensors(*self._located(name))

    def read_tensor_metadata(self, name: str) -> dict[str, str]:
        return self.store.read_tensor_metadata(*self._located(name))

    # -- writing ---------------------------------------------------------------

    def _target(self, artifact: Artifact) -> tuple[str, str]:
        if self.stage is None:
            raise UndeclaredArtifact(f"{artifact.name!r} is written only by the stage that declares it, not from outside a run")
        if artifact not in self.stage.outputs:
            raise UndeclaredArtifact(f"stage {self.stage.name!r} writes {artifact.name!r}, which its declaration does not list in writes")
        return self.stage.name, artifact.file

    def output_path(self, artifact: Artifact) -> Path:
        return self.store.path(*self._target(artifact))

    def write_json(self, artifact: Artifact, obj: Any) -> Path:
        return self.store.write_json(*self._target(artifact), obj)

    def write_jsonl(self, artifact: Artifact, rows: Iterable[Mapping[str, Any]]) -> Path:
        return self.store.write_jsonl(*self._target(artifact), rows)

    def write_tensors(self, artifact: Artifact, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> Path:
        return self.store.write_tensors(*self._target(artifact), tensors, metadata)

    @contextmanager
    def folder(self, artifact: Artifact) -> Iterator[Path]:
        """A folder artifact (an exported model), swapped into place on success."""
        with self.store.directory(*self._target(artifact)) as tmp:
            yield tmp

    def broken_promises(self) -> list[str]:
        """Once the stage has run: its required artifacts that are not on disk, and files in its folder it never declared."""
        assert self.stage is not None
        declared = {artifact.file for artifact in self.stage.outputs}
        required = [a for a in self.stage.outputs if not a.optional]
        missing = [f"{a.name} ({a.file}) was not written" for a in required if not self.store.exists(self.stage.name, a.file)]
        folder = self.store.root / self.stage.name
        extra = [
            f"{entry.name} is not declared"
            for entry in sorted(folder.iterdir() if folder.is_dir() else ())
            if entry.name not in declared and entry.name not in BOOKKEEPING and not entry.name.startswith(".")
        ]
        return missing + extra
