"""One job: the resolved config in, a run directory with artifacts and a report out.

The Hydra app calls :func:`run_job` once per job (once per multirun point); it
returns the report, whose ``objective`` (a figure on golden dev) a sweeper optimises.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from stillroom.artifacts import ArtifactStore
from stillroom.config.schema import validate_config
from stillroom.deprecation import removed
from stillroom.plugin_boundary import NotifyHook
from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy.source import load_policy
from stillroom.recipe.closing import closing_lines
from stillroom.recipe.lock import run_folder_lock
from stillroom.recipe.manifest import write_manifest
from stillroom.recipe.quiet import quiet_libraries
from stillroom.recipe.run import run_context, run_stages
from stillroom.recipe.stage_cache import StageCache
from stillroom.stages import report as report_stage
from stillroom.training.strategies import check_strategy, register_strategies

REPORT = "report.figures"
BEFORE_RUN = NotifyHook("stillroom_before_run")
AFTER_RUN = NotifyHook("stillroom_after_run")
"""The report stage's figures, which the job prints and returns (a sweeper optimises their ``objective``)."""


OLD_REPORT_PATH = report_stage.JSON.file
"""Where report.json was, at the run folder's top, before it moved into the report stage's folder (``report/report.json``)."""


def link_old_report_path(run_dir: Path, report: Path) -> None:
    """A link at the run folder's top to ``report/report.json``, where scripts of an earlier stillroom read it: the
    moved output path keeps working until :data:`~stillroom.deprecation.REMOVED_IN` (CHANGELOG.md, 0.2.0)."""
    link = run_dir / OLD_REPORT_PATH
    link.unlink(missing_ok=True)
    if removed():
        return
    try:
        link.symlink_to(report.relative_to(run_dir))
    except OSError:  # a file system without links: a copy, as current as this run
        shutil.copyfile(report, link)


def run_job(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run (or resume) the whole recipe in ``run_dir``; return the report."""
    config = validate_config(cfg)
    register_strategies()
    check_strategy(config["trainer"])
    quiet_libraries(bool(config["verbose"]))
    torch.set_num_threads(config["trainer"]["num_threads"])
    plugins = get_plugin_manager()
    policy = load_policy(config["product"]["policy"], plugins)
    store = ArtifactStore(run_dir)
    cache = StageCache(Path(config["stage_cache"]).expanduser()) if config.get("stage_cache") else None
    ctx = run_context(config, store, policy, plugins)
    ctx.check_components()
    ctx.plan.check(config)
    report = None
    with run_folder_lock(store.root):
        BEFORE_RUN(plugins, config=config, store=store)
        try:
            summaries = run_stages(ctx, cache=cache)
            write_manifest(store, config, policy, summaries)
            link_old_report_path(store.root, ctx.io.path(REPORT))
            report = ctx.io.read_json(REPORT)
        finally:
            AFTER_RUN(plugins, config=config, store=store, report=report)
    print(closing_lines(report, store.root, ctx.io.path(REPORT).parent))  # last, after what the plugins said as the run ended
    return report
