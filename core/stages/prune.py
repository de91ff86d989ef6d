"""prune: cut the distilled student's least important attention heads (and layers), then distill it again.

Importance is measured on the distillation objective over a sample of the
teacher-labeled pairs (the student's own plugin decides how; see
:mod:`stillroom.plugins.models.pruning`). The pruned student then trains
again on the same soft labels for ``prune.epochs`` epochs, to win back what
the cut cost. The report shows it as ``student`` beside the model it came from,
``student_before_pruning``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import torch

from stillroom.errors import StillroomError
from stillroom.losses import HIDDEN
from stillroom.ranker import Prunable, Ranker, count_parameters
from stillroom.stages.context import RunContext
from stillroom.stages.contracts import Stage, TrainedModel, reads_model
from stillroom.stages.training import TEACHER_ROLES, TRAIN_KEYS, TRAINING_DATA, labeled_items, reads_labels, teacher_sources, train
from stillroom.training import PairCollator, TargetShapes, TrainItem

NAME = "prune"
PRUNED = TrainedModel("student", "student")
SOURCE = "student_before_pruning"
"""The distilled student it cuts."""


def declare(config: Mapping[str, Any]) -> list[Stage]:
    if not (config.get("prune") or {}).get("enabled"):
        return []
    return [
        Stage(
            NAME,
            run,
            (*TRAIN_KEYS, PRUNED.role, *TEACHER_ROLES, "loss.distill", "prune"),
            reads=(*reads_model(SOURCE), *reads_labels(teacher_sources(config).values()), *TRAINING_DATA),
            trains=PRUNED,
        )
    ]


def importance_loss(ctx: RunContext, model: Ranker, sample: list[TrainItem]) -> torch.Tensor:
    """The distillation objective on ``sample`` (terms that read hidden states left out), averaged over batches."""
    terms = [t for t in ctx.loss_terms(ctx.config["loss"]["distill"], where="loss.distill") if HIDDEN not in t.needs]
    collate = PairCollator(model, TargetShapes.of(sample))
    batch_size = ctx.config["student"]["train"]["batch_size"]
    total = torch.zeros(())
    batches = [collate(sample[i : i + batch_size]) for i in range(0, len(sample), batch_size)]
    for batch in batches:
        logits = model(**batch["features"])
        total = total + sum(t.weight * t(logits, batch) for t in terms)
    return total / max(1, len(batches))


def run(ctx: RunContext) -> dict[str, Any]:
    config = ctx.config["prune"]
    student = ctx.load_model(SOURCE)
    if not isinstance(student, Prunable):
        raise StillroomError(
            f"the student {ctx.config['student']['name']!r} cannot be pruned (it has no prune and apply_pruning methods)", where="prune.enabled"
        )
    items = labeled_items(ctx, teacher_sources(ctx.config))
    sample = random.Random(ctx.seed).sample(items, min(config["importance_pairs"], len(items)))
    params_before = count_parameters(student)
    plan = student.prune(config["keep_layers"], config["keep_heads"], lambda: importance_loss(ctx, student, sample))
    ctx.io.write_json(PRUNED.pruning, plan)
    summary = train(ctx, PRUNED, items, "distill", model=student, epochs=config["epochs"])
    return {**summary, "params_before": params_before, "layers_kept": plan["layers"], "heads_kept": {k: len(v) for k, v in plan["heads"].items()}}
