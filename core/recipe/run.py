"""The recipe: the stages every stage module declares, in the order their reads allow, each reused when its inputs are unchanged.

A stage's fingerprint covers the config entries it declares, the files they name
(prompt templates, data files), the policy's sha256, and the fingerprints and
output checksums of the stages whose artifacts it reads. A stage whose recorded
fingerprint matches (and whose outputs still have their recorded checksums) is
reused, so rerunning an interrupted command resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from stillroom.artifacts import ArtifactStore
from stillroom.config.resources import resolve_file
from stillroom.files import fingerprint, folder_checksums, sha256_file
from stillroom.plugin_boundary import NotifyHook
from stillroom.plugin_manager import Plugins
from stillroom.policy import Policy
from stillroom.recipe.lock import stop_between_stages
from stillroom.recipe.stage_cache import StageCache
from stillroom.recipe.timing import CONFIG_FINGERPRINT, RunClock, earlier_seconds
from stillroom.stages import compliance, distill, engagement_teacher, evaluate, export, finetune, gate, label, prepare, prune, report
from stillroom.stages.config_view import ConfigView
from stillroom.stages.context import RunContext
from stillroom.stages.contracts import Plan, Stage
from stillroom.stages.stage_io import UndeclaredArtifact
from stillroom.training.progress import duration, running_stage

STAGE_MODULES = (prepare, finetune, gate, label, engagement_teacher, distill, prune, evaluate, compliance, export, report)
"""Where the stages are declared; the order here breaks ties only, the reads decide."""
BEFORE_STAGE = NotifyHook("stillroom_before_stage")
AFTER_STAGE = NotifyHook("stillroom_after_stage")
FILE_KEYS = tuple(f"{role}.prompt" for role in ("judge", "teacher", "student"))
"""A model config's ``prompt`` names a template file: its sha256 joins the fingerprint, so editing the file retrains."""
DATA_KEYS = ("data.path", "data.golden")
"""The data files (or folders) a data source reads: their checksums join ``prepare``'s fingerprint, so an edited file is read again."""


def recipe_plan(config: Mapping[str, Any]) -> Plan:
    """The stages this config runs, in order, with what each reads and writes."""
    return Plan(stage for module in STAGE_MODULES for stage in module.declare(config))


def run_context(
    config: dict[str, Any], store: ArtifactStore, policy: Policy, plugins: Plugins
) -> RunContext:
    """A run's context over the recipe this config runs; outside a stage it reads every artifact of a finished run."""
    return RunContext(config=config, store=store, policy=policy, plugins=plugins, plan=recipe_plan(config))


COSMETIC_KEYS = ("logger", "trainer.progress_bar", "trainer.log_every_n_steps")
"""Entries a stage may read that change how it looks (what it logs, and where), not what it computes: its
fingerprint leaves them out, so that switching the logger or the progress bar reruns nothing."""


def _config_value(config: Mapping[str, Any], dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _file_digest(spec: Any, where: str) -> str | None:
    return sha256_file(resolve_file(spec, where)) if isinstance(spec, str) else None


def _data_digest(spec: Any) -> str | None:
    """A data file's sha256, or a folder's over its files; ``None`` when there is none (the data source says so)."""
    path = Path(str(spec)).expanduser() if spec else None
    if path is None or not path.exists():
        return None
    return sha256_file(path) if path.is_file() else fingerprint(folder_checksums(path))


def stage_fingerprint_config(config: Mapping[str, Any], stage: Stage) -> dict[str, Any]:
    """What of the run config a stage's fingerprint covers: the entries it declares, read through its view, with
    the files they name by content and the cosmetic entries left out."""
    view = ConfigView(config, stage.config_keys, stage.name)
    parts = {key: _config_value(view, key) for key in stage.config_keys if key not in COSMETIC_KEYS}
    for key in FILE_KEYS:
        if key.split(".")[0] in stage.config_keys:
            parts[f"sha256({key})"] = _file_digest(_config_value(view, key), key)
    for key in DATA_KEYS:
        if "data" in stage.config_keys:
            parts[f"sha256({key})"] = _data_digest(_config_value(view, key))
    if isinstance(parts.get("trainer"), dict):
        parts["trainer"] = {k: v for k, v in parts["trainer"].items() if f"trainer.{k}" not in COSMETIC_KEYS}
    return parts


def run_stages(ctx: RunContext, log: Callable[[str], None] = print, cache: StageCache | None = None) -> dict[str, dict[str, Any]]:
    """Run (or reuse) every stage, taking completed ones from ``cache`` (``stage_cache=DIR``: stages shared with other
    runs) when it has them; return each stage's summary."""
    summaries: dict[str, dict[str, Any]] = {}
    running = ["before the first stage"]
    names = [stage.name for stage in ctx.plan.stages]
    configs = {stage.name: stage_fingerprint_config(ctx.config, stage) for stage in ctx.plan.stages}
    clock = RunClock(names, earlier_seconds(ctx.store.root, {name: fingerprint(config) for name, config in configs.items()}))
    ran: list[str] = []
    try:
        with stop_between_stages(lambda: running[-1]):
            for stage in ctx.plan.stages:
                running.append(stage.name)
                numbered = f"[stillroom] {clock.position(stage.name)} "
                with running_stage(stage.name):
                    summaries[stage.name] = _run_or_reuse(ctx, stage, configs[stage.name], summaries, ran, partial(_prefixed, log, numbered), cache)
                if left := clock.left_after(stage.name):
                    log(f"[stillroom] {left}")
    except BaseException:
        _forget_stale(ctx, ran, finished=set(summaries))
        raise
    return summaries


def _forget_stale(ctx: RunContext, ran: list[str], finished: set[str]) -> None:
    """After a run that stopped: forget what later stages made from the earlier outputs of a stage this run
    changed (or was changing), so the folder shows no earlier run's report, export or verdict beside the stop. A
    stage this run finished, or one downstream of nothing that changed, keeps its outputs for the rerun."""
    for changed in ran:
        for stale in ctx.plan.downstream(changed):
            if stale not in finished:
                ctx.store.invalidate(stale)


def _prefixed(log: Callable[[str], None], prefix: str, line: str) -> None:
    log(prefix + line)


def _run_or_reuse(
    ctx: RunContext,
    stage: Stage,
    config: dict[str, Any],
    summaries: dict[str, dict[str, Any]],
    ran: list[str],
    log: Callable[[str], None],
    cache: StageCache | None,
) -> dict[str, Any]:
    """The stage's summary: the recorded one when its fingerprint matches a completed run of it (here or in the
    stage cache), else the one running it now gives (its name joins ``ran`` as it starts)."""
    stage_fp = fingerprint(
        stage.name,
        config,
        ctx.policy.sha256,
        [(ctx.stage_fingerprints[d], summaries[d]["outputs"]) for d in ctx.plan.upstream[stage.name]],
    )
    ctx.stage_fingerprints[stage.name] = stage_fp
    done_here = ctx.store.completed_fingerprint(stage.name) == stage_fp
    if done_here or (cache is not None and cache.take(ctx.store, stage.name, stage_fp)):
        summary = ctx.store.completed_summary(stage.name)
        source = ctx.store.root / stage.name if done_here else cache.entry(stage.name, stage_fp)
        log(f"{stage.name}: unchanged, reusing {source}")
        AFTER_STAGE(ctx.plugins, stage=stage.name, store=ctx.store, summary=summary, reused=True)
        return summary
    changed = ctx.store.changed_output(stage.name)  # said, so that a rerun nobody asked for has its reason
    ran.append(stage.name)
    ctx.store.invalidate(stage.name)
    BEFORE_STAGE(ctx.plugins, stage=stage.name, store=ctx.store)
    log(f"{stage.name}: running" + (f" again: {changed}" if changed else ""))
    started = time.perf_counter()
    stage_ctx = ctx.for_stage(stage)
    summary = stage.run(stage_ctx)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    summary[CONFIG_FINGERPRINT] = fingerprint(config)
    ctx.store.drop_checkpoints(stage.name)
    if broken := stage_ctx.io.broken_promises():
        raise UndeclaredArtifact(f"stage {stage.name!r} does not keep its declaration: {'; '.join(broken)}")
    summary["outputs"] = ctx.store.mark_complete(stage.name, stage_fp, summary)
    if cache is not None:
        cache.publish(ctx.store, stage.name, stage_fp)
    log(f"{stage.name}: done in {duration(summary['seconds'])}")
    AFTER_STAGE(ctx.plugins, stage=stage.name, store=ctx.store, summary=summary, reused=False)
    return summary
