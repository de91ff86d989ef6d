"""Lightning internals: a strategy that starts its workers inside each call, with Lightning's multiprocessing launcher."""

from __future__ import annotations

from lightning.pytorch.strategies import FSDPStrategy
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher


class SpawnedFSDP(FSDPStrategy):
    """Lightning's FSDP, its workers spawned inside each ``fit`` and ``predict`` call (as ``ddp_spawn``'s are) instead of
    relaunching the command: the one strategy hook that picks a launcher is ``_configure_launcher``."""

    def _configure_launcher(self) -> None:
        self._launcher = _MultiProcessingLauncher(self, start_method="spawn")
