"""Lightning internals: a strategy that starts its workers inside each call, with Lightning's multiprocessing launcher,
a progress bar that counts epochs from one, and a wandb logger that does not pass wandb a setting it warns about."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.strategies import FSDPStrategy
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher


class SpawnedFSDP(FSDPStrategy):
    """Lightning's FSDP, its workers spawned inside each ``fit`` and ``predict`` call (as ``ddp_spawn``'s are) instead of
    relaunching the command: the one strategy hook that picks a launcher is ``_configure_launcher``."""

    def _configure_launcher(self) -> None:
        self._launcher = _MultiProcessingLauncher(self, start_method="spawn")


class EpochsCountedFromOne(RichProgressBar):
    """Lightning's progress bar, its epochs counted as people count them: "Epoch 2/2" on the second of two, where
    Lightning's own says "Epoch 1/1" (its ``_get_train_description`` counts from zero)."""

    def _get_train_description(self, current_epoch: int) -> str:
        return super()._get_train_description(current_epoch + 1).replace(f"/{self.trainer.max_epochs - 1}", f"/{self.trainer.max_epochs}", 1)


class QuietWandbLogger(WandbLogger):
    """Lightning's wandb logger without the ``anonymous`` setting it always passes to ``wandb.init`` (``None`` when
    unset), which wandb answers with "The anonymous setting has no effect" on every run."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
