"""One job: the resolved config in, a run directory with artifacts and a report out.

The Hydra app calls :func:`run_job` once per job (once per multirun point); it
returns the report, whose ``objective`` (a figure on golden dev) a sweeper optimises.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from stillroom.artifacts import ArtifactStore
from stillroom.config_schema import validate_config
from stillroom.context import RunContext
from stillroom.manifest import write_manifest
from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy_source import load_policy
from stillroom.recipe import recipe_stages, run_stages
from stillroom.report import build_report, write_report
from stillroom.report_words import verdicts
from stillroom.stage_cache import StageCache
from stillroom.stages import evaluate, gate, prepare
from stillroom.strategies import check_strategy, register_strategies


def _curves(config: dict[str, Any], store: ArtifactStore) -> dict[str, list[dict[str, float]]]:
    stages = recipe_stages(config)
    return {stage.name: store.read_jsonl(stage.name, "history.jsonl") for stage in stages if store.exists(stage.name, "history.jsonl")}


def _quiet_lightning() -> None:
    """Keep Lightning's start-up notices (GPU available, tips) out of the run's output; warnings stay."""
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run_job(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run (or resume) the whole recipe in ``run_dir``; return the report."""
    config = validate_config(cfg)
    register_strategies()
    check_strategy(config["trainer"])
    _quiet_lightning()
    torch.set_num_threads(int(config["trainer"]["num_threads"]))
    plugins = get_plugin_manager()
    policy = load_policy(config["product"]["policy"], plugins)
    store = ArtifactStore(run_dir)
    cache = StageCache(Path(config["stage_cache"]).expanduser()) if config.get("stage_cache") else None
    ctx = RunContext(config=config, store=store, policy=policy, plugins=plugins, stage_cache=cache)
    ctx.check_components()
    evaluate.check_config(config)
    report = None
    plugins.hook.stillroom_before_run(config=config, store=store)
    try:
        summaries = run_stages(ctx)
        write_manifest(store, config, policy, summaries)
        curves = _curves(config, store)
        report = build_report(
            config,
            policy,
            store.read_json(evaluate.NAME, evaluate.MODELS_FILE),
            store.read_json(evaluate.NAME, evaluate.COMPARISONS_FILE),
            summaries[evaluate.NAME]["requests"],
            curves,
            store.read_json(gate.NAME, gate.RESULT_FILE),
            store.read_json(prepare.NAME, prepare.FIRST_STAGE_FILE) if store.exists(prepare.NAME, prepare.FIRST_STAGE_FILE) else None,
        )
        table = write_report(store, report, curves)
        metric = report["primary_metric"]
        print(f"\n{table}\n\n{verdicts(report)}\n\nstudent keeps {report[f'retained_{metric}']:.1%} of the teacher's {metric} "
              f"at {report['speedup']:.1f}x its throughput\nrun directory: {store.root}")
    finally:
        plugins.hook.stillroom_after_run(config=config, store=store, report=report)
    return report
