"""gate: the model that will label at scale (the judge, or the teacher when there is none) must pass the policy gate.

It is scored as it will label: with ``labeling.enforce_rules`` the policy's
hard rules cap its labels here too. Beside its agreement with golden dev and
the precedents, its ranking of golden dev is compared with the free model's
(``gate.min_gain_over_zero_shot``), on the run's primary metric and paired over
requests. A passed gate's figures go into the report; a failed gate stops the
run before any labeling at scale, with the figures in its message and nothing
recorded as complete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch

from stillroom.baselines import ranking_scores
from stillroom.data import Pair
from stillroom.errors import GateFailed, StillroomError
from stillroom.evaluation import EvalInput, Evaluator, PerRequest, evaluate
from stillroom.evaluation.comparisons import compare
from stillroom.evaluation.report import primary_metric
from stillroom.evaluation.significance import IntervalSettings
from stillroom.plugin_boundary import Contributed
from stillroom.policy.gate import FREE_MODEL, GainCheck, judge_gate
from stillroom.stages.context import SCORES, RunContext
from stillroom.stages.contracts import Artifact, Stage, data_split, reads_model
from stillroom.stages.labeling import labelers, labels_of

NAME = "gate"
RESULT = Artifact("gate.result", "gate.json")
"""The gate's figures (kappa, precedents, the gain over the free model), for the report and the model card."""
CONFIG_KEYS = (
    "gate.min_kappa", "gate.precedents", f"gate.min_gain_over_{FREE_MODEL}", "gate.gain_must_be_resolved",
    "labeling.enforce_rules", "evaluator.k", "evaluator.names", "evaluator.intervals",
)  # fmt: skip


def declare(config: Mapping[str, Any]) -> list[Stage]:
    labeler = labelers(config)[0]  # the first to label at scale must pass the gate
    # The labeler is rebuilt from its role's config; zero_shot is built from the teacher's (whatever the labeler);
    # the precedents are rendered, and their features computed, as the product says.
    keys = (*CONFIG_KEYS, *SCORES, *dict.fromkeys((labeler, "teacher")), "product")
    return [Stage(NAME, partial(run, labeler=labeler), keys, reads=(*reads_model(labeler), data_split("dev")), writes=(RESULT,))]


def run(ctx: RunContext, labeler: str) -> dict[str, Any]:
    gate_config = ctx.config["gate"]
    role = ctx.plan.model(labeler).role
    model = ctx.load_model(labeler)
    dev = ctx.pairs("dev")
    precedents = ctx.precedents() if gate_config["precedents"] else []
    dev_labels, precedent_labels = labels_of(ctx, role, model, dev), labels_of(ctx, role, model, precedents)
    gain = gain_over_free_model(ctx, dev, dev_labels, labeler)
    result = judge_gate(role, dev, dev_labels, precedents, precedent_labels, ctx.policy, gate_config, gain)
    ctx.io.write_json(RESULT, result.summary())  # the record stays when the gate stops the run: it says why
    if not result.passed:
        raise GateFailed(result.explain(ctx.policy), where=NAME)
    print(f"[stillroom] {result.explain(ctx.policy)}")
    return result.summary()


def gain_over_free_model(ctx: RunContext, dev: Sequence[Pair], dev_labels: torch.Tensor, labeler_name: str) -> GainCheck | None:
    """The labeler's primary metric on golden dev minus the free model's, paired over requests; None when not asked for."""
    min_gain = ctx.config["gate"][f"min_gain_over_{FREE_MODEL}"]
    if min_gain is None:
        return None
    k = ctx.config["evaluator"]["k"]
    metric = primary_metric(k)
    evaluators = ctx.evaluators(ctx.config["evaluator"]["names"])
    free_scores = ranking_scores(ctx.build_baseline(FREE_MODEL), dev)
    labeler = _per_request(evaluators, EvalInput(pairs=dev, probs=dev_labels, policy=ctx.policy, k=k), metric)
    free = _per_request(evaluators, EvalInput(pairs=dev, probs=None, policy=ctx.policy, k=k, ranking_scores=free_scores), metric)
    per_request = {labeler_name: {metric: labeler}, FREE_MODEL: {metric: free}}
    [compared] = compare(per_request, [(labeler_name, FREE_MODEL)], IntervalSettings.of_run(ctx.config))
    toward_better = 1.0 if labeler.higher_is_better else -1.0  # a gain is an improvement, whichever way the metric points
    low, high = sorted(toward_better * bound for bound in compared["ci"])
    return GainCheck(
        baseline=FREE_MODEL,
        metric=metric,
        labeler=labeler.figure,
        free_model=free.figure,
        gain=toward_better * compared["difference"],
        ci=(low, high),
        min_gain=float(min_gain),
        must_be_resolved=ctx.config["gate"]["gain_must_be_resolved"],
        requests=compared["requests"],
    )


def _per_request(evaluators: Sequence[Contributed[Evaluator]], inputs: EvalInput, metric: str) -> PerRequest:
    for evaluator in evaluators:
        value = evaluate(evaluator, inputs).get(metric)
        if isinstance(value, PerRequest):
            return value
    raise StillroomError(
        f"the gain over {FREE_MODEL} is measured on {metric} per request, and no evaluator in evaluator.names gives it",
        where=f"gate.min_gain_over_{FREE_MODEL}",
    )
