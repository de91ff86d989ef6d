"""The recipe: stages in order, each reused when its inputs are unchanged.

A stage's fingerprint covers the config groups it reads, the policy's sha256
and the fingerprints of the stages it depends on. A stage whose recorded
fingerprint matches (and whose outputs still have their recorded checksums) is
reused, so rerunning an interrupted command resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stillroom.artifacts import fingerprint
from stillroom.context import RunContext
from stillroom.stages import distill, evaluate, export, finetune, label, prepare


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[RunContext], dict[str, Any]]
    config_keys: tuple[str, ...]
    """Top-level config groups the stage reads (its fingerprint covers them)."""
    depends_on: tuple[str, ...] = ()


STAGES: tuple[Stage, ...] = (
    Stage(prepare.NAME, prepare.run, ("seed", "product", "data")),
    Stage(finetune.NAME, finetune.run, ("seed", "teacher", "loss", "trainer"), (prepare.NAME,)),
    Stage(label.NAME, label.run, ("teacher",), (finetune.NAME,)),
    Stage(distill.NAME, distill.run, ("seed", "student", "loss", "trainer"), (label.NAME,)),
    Stage(distill.NO_KD_NAME, distill.run_no_kd, ("seed", "student", "loss", "trainer"), (label.NAME,)),
    Stage(evaluate.NAME, evaluate.run, ("evaluator",), (distill.NAME, distill.NO_KD_NAME)),
    Stage(export.NAME, export.run, ("student",), (evaluate.NAME,)),
)

# Settings that change how a stage looks, not what it computes.
_COSMETIC_TRAINER_KEYS = ("progress_bar", "log_every_n_steps")


def _fingerprint_config(ctx: RunContext, stage: Stage) -> dict[str, Any]:
    parts = {key: ctx.config.get(key) for key in stage.config_keys}
    if isinstance(parts.get("trainer"), dict):
        parts["trainer"] = {k: v for k, v in parts["trainer"].items() if k not in _COSMETIC_TRAINER_KEYS}
    return parts


def run_stages(ctx: RunContext, log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Run (or reuse) every stage; return each stage's summary."""
    fingerprints: dict[str, str] = {}
    summaries: dict[str, dict[str, Any]] = {}
    hook = ctx.plugins.hook
    for stage in STAGES:
        stage_fp = fingerprint(
            stage.name,
            _fingerprint_config(ctx, stage),
            ctx.policy.sha256,
            [fingerprints[d] for d in stage.depends_on],
        )
        fingerprints[stage.name] = stage_fp
        if ctx.store.completed_fingerprint(stage.name) == stage_fp:
            summaries[stage.name] = ctx.store.completed_summary(stage.name)
            log(f"[stillroom] {stage.name}: unchanged, reusing {ctx.store.root / stage.name}")
            hook.stillroom_after_stage(stage=stage.name, store=ctx.store, summary=summaries[stage.name], reused=True)
            continue
        ctx.store.invalidate(stage.name)
        hook.stillroom_before_stage(stage=stage.name, store=ctx.store)
        log(f"[stillroom] {stage.name}: running")
        started = time.perf_counter()
        summary = stage.run(ctx)
        summary["seconds"] = round(time.perf_counter() - started, 2)
        summary["outputs"] = ctx.store.mark_complete(stage.name, stage_fp, summary)
        summaries[stage.name] = summary
        log(f"[stillroom] {stage.name}: done in {summary['seconds']:.1f}s")
        hook.stillroom_after_stage(stage=stage.name, store=ctx.store, summary=summary, reused=False)
    return summaries
