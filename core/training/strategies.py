"""Lightning strategies that leave the recipe in one process: their workers start inside each fit and predict call.

Lightning's ``ddp`` and ``fsdp`` strategies start every worker by running the
whole command again, so each process would run every stage of the recipe,
and they leave the process group behind them for the next stage. Strategies
with a multiprocessing launcher (``ddp_fork``, ``ddp_spawn``) start their
workers inside one ``trainer.fit`` or ``trainer.predict`` call and end them
there: finetune, label and distill go data-parallel, the other stages run
once, and the main process writes the artifacts. This module registers
``fsdp_spawn``, FSDP with that launcher, and refuses the strategies that
relaunch the command, before any stage runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning.pytorch.strategies import StrategyRegistry

from stillroom.compat.lightning import SpawnedFSDP
from stillroom.errors import StillroomError

FSDP_SPAWN = "fsdp_spawn"
IN_CALL_STRATEGIES = ("ddp_fork", "ddp_spawn", "ddp_notebook", FSDP_SPAWN)
SINGLE_PROCESS_STRATEGIES = ("auto", "single_device")


def register_strategies() -> None:
    """Add ``fsdp_spawn`` to Lightning's strategy names (once)."""
    if FSDP_SPAWN not in StrategyRegistry:
        StrategyRegistry.register(FSDP_SPAWN, SpawnedFSDP, description="FSDP with its workers spawned inside each fit and predict call")


def is_distributed(trainer_config: Mapping[str, Any]) -> bool:
    """Whether the trainer config names a strategy that runs several processes (``ddp_fork``, ``ddp_spawn``, ``fsdp_spawn``)."""
    return str(trainer_config["strategy"]) not in SINGLE_PROCESS_STRATEGIES


def check_strategy(trainer_config: Mapping[str, Any]) -> None:
    """Refuse a strategy that would run the recipe once per process, naming the ones that do not."""
    strategy = str(trainer_config["strategy"])
    on_gpus = str(trainer_config["accelerator"]) != "cpu"
    if strategy == "auto" and (_several(trainer_config["devices"]) or (on_gpus and str(trainer_config["devices"]) == "auto")):
        raise StillroomError(
            f"devices={trainer_config['devices']} with strategy 'auto' lets Lightning relaunch the whole command once per device; "
            f"choose one of {', '.join(IN_CALL_STRATEGIES)} (trainer=ddp_cpu, ddp_gpu or fsdp)",
            where="trainer.strategy",
        )
    if strategy not in (*IN_CALL_STRATEGIES, *SINGLE_PROCESS_STRATEGIES):
        raise StillroomError(
            f"strategy {strategy!r} is not one stillroom runs (a strategy that relaunches the command would run every stage once "
            f"per process); choose one of {', '.join(IN_CALL_STRATEGIES)}, or auto on one device",
            where="trainer.strategy",
        )


def _several(devices: Any) -> bool:
    """Whether Lightning's ``devices`` asks for more than one: a list, ``"0,1"``, a count above 1, or -1 (all there are)."""
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    text = str(devices).strip()
    if "," in text:
        return len([part for part in text.split(",") if part.strip()]) > 1
    return text.lstrip("-").isdigit() and (int(text) > 1 or int(text) < 0)
