"""Training checkpoints that survive a killed job and load nothing but tensors.

A training stage keeps one checkpoint, ``last.ckpt`` in its checkpoint folder:
saved at the end of every epoch and when the job gets SIGTERM (a scheduler's
polite kill), written under a temporary name and renamed, so a SIGKILL in the
middle of a save leaves the previous checkpoint whole. A rerun of the same
command resumes from it. It is Lightning's own format, read back with
``torch.load(weights_only=True)``: a checkpoint holds tensors and plain values,
and a file that holds anything else is refused, never executed.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from stillroom.errors import StillroomError
from stillroom.files import atomic_path
from stillroom.training.sampling import EpochBatchSampler

CHECKPOINT_FILE = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoints, saved atomically and loaded as tensors only."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        with atomic_path(Path(path)) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        try:
            return torch.load(Path(path), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise StillroomError(
                f"not a checkpoint of tensors and plain values ({first_line}); it is not loaded. "
                "Delete it to train this stage from the start",
                where=str(path),
            ) from None


class ResumableTraining(Checkpoint):
    """Saves the checkpoint (each epoch, on SIGTERM); a fit resumed from it picks up where it stopped.

    A fit resumed mid-epoch has the sampler skip the batches its checkpoint
    had already trained on (with
    :class:`~stillroom.training.sampling.ReplayableRandomness`, the resumed fit then
    replays the uninterrupted one).
    """

    def __init__(self, folder: Path, sampler: EpochBatchSampler) -> None:
        self.path = Path(folder) / CHECKPOINT_FILE
        self.sampler = sampler
        self.trainer: pl.Trainer | None = None
        self.stop_on_resume = False

    @property
    def resume_from(self) -> Path | None:
        return self.path if self.path.is_file() else None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.trainer = trainer

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Called once the checkpoint is restored: Lightning's loops know whether they stopped mid-epoch.
        loop = trainer.fit_loop
        if loop.restarted_mid_epoch:
            self.sampler.resume(trainer.current_epoch, loop.epoch_loop.batch_progress.current.completed)
        if self.stop_on_resume:  # early stopping had already ended the fit this checkpoint came from
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        trainer.save_checkpoint(self.path)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        # Only a polite kill saves: after a numeric fault, the last good checkpoint must stay as it is.
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path)

    def state_dict(self) -> dict[str, Any]:
        return {"should_stop": bool(self.trainer and self.trainer.should_stop)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.stop_on_resume = bool(state_dict.get("should_stop"))
