"""The recipe: stages in order, each reused when its inputs are unchanged.

A stage's fingerprint covers the config groups it reads, the files they name
(prompt templates, data files), the policy's sha256, and the fingerprints and
output checksums of the stages it depends on. A stage whose recorded fingerprint
matches (and whose outputs still have their recorded checksums) is reused, so
rerunning an interrupted command resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from stillroom import engagement
from stillroom.artifacts import fingerprint, folder_checksums, sha256_file
from stillroom.context import RunContext
from stillroom.gate import FREE_MODEL
from stillroom.resources import resolve_file
from stillroom.stages import compliance, distill, engagement_teacher, evaluate, export, finetune, gate, label, prepare, prune


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[RunContext], dict[str, Any]]
    config_keys: tuple[str, ...]
    """Config entries the stage reads, dotted for nested ones (``loss.finetune``); its fingerprint covers them."""
    depends_on: tuple[str, ...] = ()


TRAIN_KEYS = ("seed", "trainer", "evaluator.k")
"""What every training stage reads beside its model's config: ``evaluator.k`` cuts the dev NDCG that picks the best epoch."""
GATE_KEYS = (
    "seed", "gate.min_kappa", "gate.precedents", f"gate.min_gain_over_{FREE_MODEL}", "gate.gain_must_be_resolved",
    "labeling.enforce_rules", "evaluator.k", "evaluator.names", "evaluator.intervals",
)  # fmt: skip
FILE_KEYS = tuple(f"{role}.prompt" for role in ("judge", "teacher", "student"))
"""A model config's ``prompt`` names a template file: its sha256 joins the fingerprint, so editing the file retrains."""
DATA_KEYS = ("data.path", "data.golden")
"""The data files (or folders) a data source reads: their checksums join ``prepare``'s fingerprint, so an edited file is read again."""


def _labelers(config: Mapping[str, Any]) -> list[Stage]:
    """Fine-tune, gate and label, once per model that labels data: the judge (if any), then the teacher.

    The first labeler learns from golden train and the policy's precedents and
    must pass the policy gate; with a judge, the teacher learns from the
    judge's labels instead.
    """
    first = "judge" if config.get("judge") else "teacher"
    first_trained = finetune.JUDGE_NAME if first == "judge" else finetune.NAME
    first_labels = label.JUDGE_NAME if first == "judge" else label.NAME
    stages = [
        Stage(
            first_trained,
            partial(finetune.run_on_golden, role=first, stage=first_trained),
            (*TRAIN_KEYS, first, "loss.finetune", "labeling.precedent_copies"),
            (prepare.NAME,),
        ),
        Stage(gate.NAME, partial(gate.run, role=first, trained_stage=first_trained), GATE_KEYS, (first_trained,)),
        Stage(
            first_labels,
            partial(label.run, role=first, trained_stage=first_trained, stage=first_labels),
            (first, "labeling.enforce_rules"),
            (first_trained,),
        ),
    ]
    if first == "judge":
        stages += [
            Stage(
                finetune.NAME,
                partial(finetune.run_from_labels, role="teacher", stage=finetune.NAME, labels_stage=first_labels),
                (*TRAIN_KEYS, "teacher", "loss.distill"),
                (first_labels,),
            ),
            Stage(
                label.NAME,
                partial(label.run, role="teacher", trained_stage=finetune.NAME, stage=label.NAME),
                ("teacher", "labeling.enforce_rules"),
                (finetune.NAME,),
            ),
        ]
    return stages


def _engagement_teacher(config: Mapping[str, Any]) -> list[Stage]:
    """The second teacher, when the recipe has one: trained on the engagement log, then labeling."""
    if not config.get(engagement.ROLE):
        return []
    return [
        Stage(
            engagement_teacher.TRAIN_NAME,
            engagement_teacher.run_finetune,
            (*TRAIN_KEYS, engagement.ROLE, "loss.finetune", "product.engagement_events"),
            (prepare.NAME,),
        ),
        Stage(engagement_teacher.LABEL_NAME, engagement_teacher.run_label, (engagement.ROLE,), (engagement_teacher.TRAIN_NAME,)),
    ]


def _prune(config: Mapping[str, Any]) -> list[Stage]:
    if not prune.enabled(config):
        return []
    return [Stage(prune.NAME, prune.run, (*TRAIN_KEYS, "student", "loss.distill", "prune"), (distill.NAME,))]


def recipe_stages(config: Mapping[str, Any]) -> tuple[Stage, ...]:
    """The stages this config runs, in order."""
    judged = (finetune.JUDGE_NAME,) if config.get("judge") else ()
    teachers = tuple(distill.teacher_labels(config).values())
    pruned = (prune.NAME,) if prune.enabled(config) else ()
    return (
        Stage(prepare.NAME, prepare.run, ("seed", "product", "data")),
        *_labelers(config),
        *_engagement_teacher(config),
        Stage(distill.NAME, distill.run, (*TRAIN_KEYS, "student", "loss.distill"), teachers),
        # The baseline reads no labels: it starts from the teacher as built and learns golden train.
        Stage(distill.NO_KD_NAME, distill.run_no_kd, (*TRAIN_KEYS, "student", "teacher", "loss"), (prepare.NAME,)),
        *_prune(config),
        Stage(evaluate.NAME, evaluate.run, ("evaluator",), (*judged, *teachers, *pruned, distill.NAME, distill.NO_KD_NAME)),
        Stage(compliance.NAME, compliance.run, ("gate.max_violation_rate", "evaluator.k"), (evaluate.NAME,)),
        Stage(export.NAME, export.run, ("student", "export"), (compliance.NAME, gate.NAME)),
    )


# Settings that change how a stage looks, not what it computes.
_COSMETIC_TRAINER_KEYS = ("progress_bar", "log_every_n_steps")


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


def _fingerprint_config(ctx: RunContext, stage: Stage) -> dict[str, Any]:
    parts = {key: _config_value(ctx.config, key) for key in stage.config_keys}
    for key in FILE_KEYS:
        if key.split(".")[0] in stage.config_keys:
            parts[f"sha256({key})"] = _file_digest(_config_value(ctx.config, key), key)
    for key in DATA_KEYS:
        if "data" in stage.config_keys:
            parts[f"sha256({key})"] = _data_digest(_config_value(ctx.config, key))
    if isinstance(parts.get("trainer"), dict):
        parts["trainer"] = {k: v for k, v in parts["trainer"].items() if k not in _COSMETIC_TRAINER_KEYS}
    return parts


def run_stages(ctx: RunContext, log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Run (or reuse) every stage; return each stage's summary."""
    summaries: dict[str, dict[str, Any]] = {}
    hook = ctx.plugins.hook
    for stage in recipe_stages(ctx.config):
        stage_fp = fingerprint(
            stage.name,
            _fingerprint_config(ctx, stage),
            ctx.policy.sha256,
            [(ctx.stage_fingerprints[d], summaries[d]["outputs"]) for d in stage.depends_on],
        )
        ctx.stage_fingerprints[stage.name] = stage_fp
        done_here = ctx.store.completed_fingerprint(stage.name) == stage_fp
        if done_here or (ctx.stage_cache is not None and ctx.stage_cache.take(ctx.store, stage.name, stage_fp)):
            summaries[stage.name] = ctx.store.completed_summary(stage.name)
            source = ctx.store.root / stage.name if done_here else ctx.stage_cache.entry(stage.name, stage_fp)
            log(f"[stillroom] {stage.name}: unchanged, reusing {source}")
            hook.stillroom_after_stage(stage=stage.name, store=ctx.store, summary=summaries[stage.name], reused=True)
            continue
        ctx.store.invalidate(stage.name)
        hook.stillroom_before_stage(stage=stage.name, store=ctx.store)
        log(f"[stillroom] {stage.name}: running")
        started = time.perf_counter()
        summary = stage.run(ctx)
        summary["seconds"] = round(time.perf_counter() - started, 2)
        ctx.store.drop_checkpoints(stage.name)
        summary["outputs"] = ctx.store.mark_complete(stage.name, stage_fp, summary)
        if ctx.stage_cache is not None:
            ctx.stage_cache.publish(ctx.store, stage.name, stage_fp)
        summaries[stage.name] = summary
        log(f"[stillroom] {stage.name}: done in {summary['seconds']:.1f}s")
        hook.stillroom_after_stage(stage=stage.name, store=ctx.store, summary=summary, reused=False)
    return summaries
