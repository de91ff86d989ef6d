"""evaluate: every model on the golden test set, with the same evaluators and the same batches.

Throughput is measured here, in one process, on identical pre-tokenized batches
for every model (whole requests per batch, as a ranking service is called:
:func:`ranking_calls`), timed in interleaved rounds (see
:func:`measure_throughputs`), so the speedup in the report compares like with like. The baselines
(``evaluator.baselines``: BM25, the untrained teacher) are ranked by the same
evaluators; they predict no labels and are not timed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from stillroom import engagement
from stillroom.baselines import to_unit_interval
from stillroom.context import RunContext
from stillroom.data import Pair
from stillroom.evaluation import EvalInput, Evaluator
from stillroom.ranker import Ranker, count_parameters, expected_grade
from stillroom.scoring import Timed, measure_throughputs, predict_probs
from stillroom.stages import distill, engagement_teacher, finetune, prune

NAME = "evaluate"
PREDICTIONS_FILE = "test_probs.safetensors"

MODELS = {
    # report name: (role, stage that trained it)
    "teacher": ("teacher", finetune.NAME),
    "student": ("student", distill.NAME),
    "student_no_kd": ("student", distill.NO_KD_NAME),
}
JUDGE = {"judge": ("judge", finetune.JUDGE_NAME)}


def student_stage(config: dict[str, Any]) -> str:
    """The stage that trained the student the run exports: pruned and distilled again, when ``prune.enabled``."""
    return prune.NAME if prune.enabled(config) else distill.NAME


def models_to_evaluate(config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The recipe's models by report name: the judge first when the recipe has one; with pruning,
    ``student`` is the pruned one and ``student_before_pruning`` the model it came from."""
    models = {**(JUDGE if config.get("judge") else {}), **MODELS, "student": ("student", student_stage(config))}
    if prune.enabled(config):
        models["student_before_pruning"] = ("student", distill.NAME)
    return models


def ranking_calls(pairs: Sequence[Pair], batch_size: int, max_pairs: int) -> list[list[Pair]]:
    """The pairs as a ranking service gets them: a call ranks whole requests (a member and its candidates),
    as many as fit in ``batch_size`` pairs; only a request longer than that spans calls.

    Requests are taken in order, whole, until the next would pass ``max_pairs`` (one at least).
    """
    requests: dict[str, list[Pair]] = {}
    for pair in pairs:
        requests.setdefault(pair.request_id, []).append(pair)
    calls: list[list[Pair]] = []
    taken = 0
    for candidates in requests.values():
        if taken and taken + len(candidates) > max_pairs:
            break
        taken += len(candidates)
        for start in range(0, len(candidates), batch_size):
            chunk = candidates[start : start + batch_size]
            if calls and len(calls[-1]) + len(chunk) <= batch_size:
                calls[-1].extend(chunk)
            else:
                calls.append(list(chunk))
    return calls


def throughput_batches(model: Ranker, pairs: Sequence[Pair], batch_size: int, max_pairs: int) -> list[dict[str, torch.Tensor]]:
    """The pre-tokenized :func:`ranking_calls` a model is timed on."""
    return [
        model.tokenize([p.request_text for p in call], [p.candidate_text for p in call]) for call in ranking_calls(pairs, batch_size, max_pairs)
    ]


def _evaluate(evaluators: list[Evaluator], inputs: EvalInput) -> dict[str, Any]:
    """Figures go to ``metrics`` (the table), nested results to ``details`` (the report only)."""
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for evaluator in evaluators:
        for key, value in evaluator(inputs).items():
            (metrics if isinstance(value, float | int) else details)[key] = value
    return {"metrics": metrics, "details": details}


def _ranked_by(ctx: RunContext, test: list[Pair], evaluators: list[Evaluator], scores: torch.Tensor, params: int) -> dict[str, Any]:
    """A row for a ranker without labels on the policy's scale: its figures from ``scores`` in (0, 1), not timed."""
    inputs = EvalInput(pairs=test, probs=None, policy=ctx.policy, k=int(ctx.config["evaluator"]["k"]), ranking_scores=scores)
    return {"params": params, "throughput_pairs_per_s": None, **_evaluate(evaluators, inputs)}


def _baselines(ctx: RunContext, test: list[Pair], evaluators: list[Evaluator]) -> dict[str, Any]:
    results = {}
    for name in ctx.config["evaluator"].get("baselines") or ():
        scorer = ctx.build_baseline(name)
        scores = to_unit_interval(scorer.score([p.request_text for p in test], [p.candidate_text for p in test]))
        results[name] = {"baseline": True, **_ranked_by(ctx, test, evaluators, scores, int(scorer.params))}
    return results


def _engagement_teacher(ctx: RunContext, test: list[Pair], evaluators: list[Evaluator]) -> dict[str, Any]:
    """The engagement teacher ranks by its expected engagement grade; its scale is not the policy's, so it gets no kappa."""
    if not ctx.config.get(engagement.ROLE):
        return {}
    model = ctx.load_model(engagement.ROLE, ctx.config[engagement.ROLE], engagement_teacher.TRAIN_NAME)
    probs = predict_probs(model, test, ctx.num_labels(engagement.ROLE), ctx.trainer_config, int(ctx.config["evaluator"]["batch_size"]))
    return {engagement.ROLE: _ranked_by(ctx, test, evaluators, expected_grade(probs), count_parameters(model))}


def run(ctx: RunContext) -> dict[str, Any]:
    config = ctx.config["evaluator"]
    test = ctx.pairs("test")
    evaluators = ctx.evaluators(config["names"])
    results: dict[str, Any] = {}
    predictions = {}
    timed: dict[str, Timed] = {}
    for model_name, (role, stage) in models_to_evaluate(ctx.config).items():
        model = ctx.load_model(role, ctx.config[role], stage)
        probs = predict_probs(model, test, ctx.policy.num_labels, ctx.trainer_config, int(config["batch_size"]))
        predictions[model_name] = probs
        inputs = EvalInput(pairs=test, probs=probs, policy=ctx.policy, k=int(config["k"]))
        timed[model_name] = Timed(model, throughput_batches(model, test, int(config["batch_size"]), int(config["throughput_pairs"])))
        results[model_name] = {"params": count_parameters(model), **_evaluate(evaluators, inputs)}
        if getattr(model, "caches_candidates", False):
            results[model_name]["candidates_cached"] = True
    throughput = measure_throughputs(timed, int(config["throughput_rounds"]), ctx.trainer_config, float(config["throughput_slice_seconds"]))
    for model_name, pairs_per_s in throughput.items():
        results[model_name]["throughput_pairs_per_s"] = pairs_per_s
    results.update(_engagement_teacher(ctx, test, evaluators))
    results.update(_baselines(ctx, test, evaluators))
    ctx.store.write_tensors(NAME, PREDICTIONS_FILE, predictions)
    ctx.store.write_json(NAME, "models.json", results)
    return {"test_pairs": len(test), "models": list(results)}
