"""A stage cache that runs share (``stage_cache=DIR``): the jobs of a sweep train one teacher, not one each.

A completed stage is published under its fingerprint (its config keys, the
policy's sha256, its upstream stages' fingerprints and outputs); a run that reaches a
stage with the same fingerprint takes a copy instead of running it. That is
the guarantee that already lets a rerun in the same folder skip a stage, so a
sweep over distillation knobs shares the data, the teacher and its labels, and
runs only what the knobs change. Copies are hard links where the file system
allows (stages replace files, never edit them in place), and both publishing
and taking swap whole folders into place, so concurrent jobs (the joblib
launcher) never see half a stage.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from stillroom.artifacts import COMPLETE_MARKER, ArtifactStore
from stillroom.files import atomic_dir


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


class StageCache:
    """Completed stages by name and fingerprint, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, stage: str, stage_fingerprint: str) -> Path:
        return self.root / stage / stage_fingerprint

    def take(self, store: ArtifactStore, stage: str, stage_fingerprint: str) -> bool:
        """Copy the cached stage into the run, if there is one; ``True`` when the run now holds it, checksums verified."""
        entry = self.entry(stage, stage_fingerprint)
        if not (entry / COMPLETE_MARKER).is_file():
            return False
        with atomic_dir(store.root / stage) as staging:
            shutil.copytree(entry, staging, dirs_exist_ok=True, copy_function=_link_or_copy)
        return store.completed_fingerprint(stage) == stage_fingerprint

    def publish(self, store: ArtifactStore, stage: str, stage_fingerprint: str) -> None:
        """Offer a stage the run completed to later runs (a no-op when another run published it first)."""
        entry = self.entry(stage, stage_fingerprint)
        if (entry / COMPLETE_MARKER).is_file():
            return
        with atomic_dir(entry) as staging:
            shutil.copytree(store.root / stage, staging, dirs_exist_ok=True, copy_function=_link_or_copy)
