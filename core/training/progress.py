"""How training and scoring show their progress: a live bar on a terminal, a line every so often anywhere else.

On a terminal, Lightning's rich bar (its epochs counted from one). When stdout
is a file or a pipe (a CI log, ``nohup``), a bar's carriage returns would be
one unreadable line, so :class:`ProgressLines` prints a plain line at most
every :data:`LINE_EVERY_SECONDS`: the epoch, the step, pairs per second and
how long the stage has left at that pace.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from stillroom.compat.lightning import EpochsCountedFromOne

LINE_EVERY_SECONDS = 30.0
RUNNING_STAGE: ContextVar[str] = ContextVar("running_stage", default="scoring")
"""The stage the recipe is running, which progress lines name (:mod:`stillroom.recipe.run` sets it)."""


@contextmanager
def running_stage(name: str) -> Iterator[None]:
    """Progress lines name ``name`` while the recipe runs that stage."""
    token = RUNNING_STAGE.set(name)
    try:
        yield
    finally:
        RUNNING_STAGE.reset(token)


def duration(seconds: float) -> str:
    """``45s``, ``3m10s``, ``1h05m``: short enough for a progress line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ProgressLines(Callback):
    """A ``[stillroom]`` line at most every ``every`` seconds while a stage trains or scores."""

    def __init__(self, every: float = LINE_EVERY_SECONDS) -> None:
        self.every = every
        self._started = self._last = 0.0
        self._pairs = 0

    def _start(self) -> None:
        self._started = self._last = time.monotonic()
        self._pairs = 0

    def _tick(self, batch: Any, done: int, total: int, where: str) -> None:
        self._pairs += _pairs_in(batch)
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        elapsed = now - self._started
        left = f", about {duration(elapsed * (total - done) / done)} left" if 0 < done < total else ""
        print(f"[stillroom] {RUNNING_STAGE.get()}: {where}, {self._pairs / elapsed:,.0f} pairs/s{left}", flush=True)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        per_epoch = int(trainer.num_training_batches)
        total = per_epoch * int(trainer.max_epochs or 1)
        done = trainer.current_epoch * per_epoch + batch_idx + 1
        where = f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}, step {batch_idx + 1}/{per_epoch}"
        self._tick(batch, done, total, where)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start()

    def on_predict_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        total = int(sum(trainer.num_predict_batches))
        self._tick(batch, batch_idx + 1, total, f"batch {batch_idx + 1}/{total}")


def _pairs_in(batch: Any) -> int:
    """The pairs in a batch: the length of its first tensor."""
    if isinstance(batch, Mapping):
        for value in batch.values():
            if hasattr(value, "shape") and len(value.shape):
                return int(value.shape[0])
    return 0


def progress_callbacks(trainer_config: Mapping[str, Any]) -> tuple[list[Callback], bool]:
    """The callbacks that show a stage's progress, and whether Lightning's own bar is on (``trainer.progress_bar``)."""
    if not trainer_config["progress_bar"]:
        return [], False
    if sys.stdout.isatty():
        return [EpochsCountedFromOne()], True
    return [ProgressLines()], False
