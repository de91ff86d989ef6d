"""Experiment tracking: wandb (offline unless told otherwise), CSV files, or nothing.

wandb keeps one run per Hydra job: every stage logs into it under its own
prefix, and the run is finished when the job ends, so the jobs of a multirun
never merge into one run. A run ends with one line saying where wandb's run
is; wandb's own lines show with ``verbose=true``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillroom import hookimpl
from stillroom.artifacts import ArtifactStore
from stillroom.config.secrets import scrub_secrets

if TYPE_CHECKING:  # Lightning loads when a logger is built, not when `stillroom policy check` loads the plugins
    from lightning.pytorch.loggers import Logger


WANDB_ENVIRONMENT = {"mode": "WANDB_MODE", "project": "WANDB_PROJECT", "group": "WANDB_RUN_GROUP"}
"""The settings ``conf/logger/wandb.yaml`` gives defaults for, and the environment variable that wins over each.
wandb lets an argument of ``wandb.init`` override its environment, so a caller that passes one must read the
variable first (wandb's own advice): ``WANDB_MODE=disabled stillroom run ...`` turns wandb off."""
OFFLINE_MODES = ("offline", "dryrun")


def wandb_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The logger config's ``mode``, ``project`` and ``group``, each replaced by its environment variable when set."""
    settings = {"mode": str(config.get("mode", "offline")), "project": str(config.get("project", "stillroom")), "group": config.get("group")}
    for key, variable in WANDB_ENVIRONMENT.items():
        if os.environ.get(variable):
            settings[key] = os.environ[variable]
    return settings


def _wandb_logger(config: Mapping[str, Any], run_dir: Path, run_name: str) -> Logger:
    from stillroom.compat.lightning import QuietWandbLogger

    settings = wandb_settings(config)
    offline = settings["mode"] in OFFLINE_MODES
    return QuietWandbLogger(
        project=settings["project"],
        name=run_dir.name,
        save_dir=str(run_dir),
        offline=offline,  # Lightning then sets WANDB_MODE=dryrun itself
        prefix=run_name,
        group=settings["group"],
        **({} if offline else {"mode": settings["mode"]}),
    )


@hookimpl
def stillroom_build_loggers(logger_config: Mapping[str, Any], run_dir: Path, run_name: str) -> list[Logger] | None:
    name = logger_config.get("name")
    if name == "wandb":
        return [_wandb_logger(logger_config, run_dir, run_name)]
    if name == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return [CSVLogger(save_dir=str(run_dir / "csv"), name=run_name, version="")]
    if name == "none":
        return []
    return None


@hookimpl
def stillroom_after_run(config: Mapping[str, Any], store: ArtifactStore, report: Mapping[str, Any] | None) -> None:
    wandb = sys.modules.get("wandb")
    if wandb is None or wandb.run is None:
        return
    if wandb_settings(config.get("logger", {}))["mode"] == "disabled":
        wandb.finish()
        return
    wandb.run.config.update(scrub_secrets(dict(config)), allow_val_change=True)
    if report is not None:
        for model, result in report["models"].items():
            for metric, value in result["metrics"].items():
                wandb.run.summary[f"{model}/{metric}"] = value
            if result["throughput_pairs_per_s"] is not None:
                wandb.run.summary[f"{model}/throughput_pairs_per_s"] = result["throughput_pairs_per_s"]
        wandb.run.summary["speedup"] = report["speedup"]
    folder, offline = Path(wandb.run.dir).parent, wandb.run.offline
    wandb.finish(exit_code=0 if report is not None else 1)
    where = f"offline run in {folder} (upload it with `wandb sync {folder}`)" if offline else f"run {folder.name}, synced"
    print(f"[stillroom] wandb: {where}")
