"""evaluate: every model on golden test (and dev), with the same evaluators and the same batches.

Test is what the report shows, each per-request figure with a bootstrap
interval over requests, and the comparisons a team decides on with paired
intervals and verdicts (:mod:`stillroom.evaluation.comparisons`). Dev is evaluated too,
for choices (a sweep's objective), never to be reported as the model's quality.

Throughput is measured here, in one process, on identical pre-tokenized batches
for every model (whole requests per batch, as a ranking service is called:
:func:`ranking_calls`), timed in interleaved rounds (see
:func:`measure_throughputs`), so the speedup in the report compares like with like. The baselines
(``evaluator.baselines``: BM25, the served base off the shelf, their fusion)
are ranked by the same evaluators; they predict no labels, and only those that
serve as a ranker (``zero_shot`` on an encoder) are timed, in that form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from stillroom.baselines import TEACHER_BASE, ServesAsRanker, to_unit_interval
from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.evaluation import EvalInput, Evaluator, PerRequest, evaluate
from stillroom.evaluation.comparisons import compare, comparison_pairs
from stillroom.evaluation.fusion import fused_scores
from stillroom.evaluation.report import primary_metric
from stillroom.evaluation.served import POLICY, as_served, check_mode
from stillroom.evaluation.significance import INTERVAL_METHODS, IntervalSettings, mean_interval
from stillroom.evaluation.trec import write_trec_files
from stillroom.features import model_inputs, pair_features
from stillroom.plugin_boundary import Contributed
from stillroom.ranker import Ranker, caches_candidates, count_parameters, expected_grade
from stillroom.stages.context import MODEL_ROLES, SCORES, RunContext
from stillroom.stages.contracts import EVERY_MODEL, Artifact, Plan, Stage, TrainedModel, data_split, model_pruning
from stillroom.training.scoring import Timed, measure_throughputs, predict_probs

NAME = "evaluate"
PREDICTIONS = Artifact("evaluation.test_probs", "test_probs.safetensors")
"""Each model's probabilities over the policy's labels for every golden test pair, by model name."""
MODELS = Artifact("evaluation.models", "models.json")
"""Each model and baseline: params, throughput, test figures (``metrics``) with their intervals (``ci``), ``dev_metrics``."""
PER_REQUEST = Artifact("evaluation.per_request", "per_request.jsonl")
"""One row per split, model, request and per-request metric: ``value`` and its ``weight`` in the mean."""
COMPARISONS = Artifact("evaluation.comparisons", "comparisons.json")
"""The paired comparisons ``evaluator.comparisons`` names, on golden test."""
SPLIT_SIZES = Artifact("evaluation.splits", "splits.json")
"""How many pairs and requests each evaluated split has."""
TREC = Artifact("evaluation.trec", "trec")
"""Golden test as TREC qrels and each model's and baseline's test ranking as a TREC run file, as the report ranked it
(:mod:`stillroom.evaluation.trec`): trec_eval, ranx and ir_measures recompute its figures from them."""
TEST, DEV = "test", "dev"


def declare(config: Mapping[str, Any]) -> list[Stage]:
    """Every model the recipe trains, on golden test and dev."""
    return [
        Stage(
            NAME,
            run,
            # every trained model is rebuilt from its role's config; the baselines are built from the teacher's
            (*SCORES, *MODEL_ROLES, "evaluator", "serving"),
            reads=(EVERY_MODEL, model_pruning("*"), data_split(TEST), data_split(DEV)),
            writes=(PREDICTIONS, MODELS, PER_REQUEST, COMPARISONS, SPLIT_SIZES, TREC),
            check=check_config,
        )
    ]


def _models(plan: Plan) -> tuple[list[TrainedModel], list[TrainedModel]]:
    """The models this stage reads: those on the policy's scale (timed, with kappa), then the others."""
    models = plan.models(EVERY_MODEL)
    return [m for m in models if m.on_policy_scale], [m for m in models if not m.on_policy_scale]


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
    features = dict(zip((p.pair_id for p in pairs), pair_features(pairs), strict=True))
    return [
        model_inputs(model, [p.request_text for p in call], [p.candidate_text for p in call], [features[p.pair_id] for p in call])
        for call in ranking_calls(pairs, batch_size, max_pairs)
    ]


@dataclass(frozen=True)
class Evaluated:
    """One model on one split: its figures, its per-request figures (a subset of them, for intervals), its details."""

    metrics: dict[str, float]
    per_request: dict[str, PerRequest]
    details: dict[str, Any]


def _evaluate(evaluators: list[Contributed[Evaluator]], inputs: EvalInput) -> Evaluated:
    """Per-request results and floats are figures (a per-request one's figure is its mean); the rest are details."""
    metrics: dict[str, float] = {}
    per_request: dict[str, PerRequest] = {}
    details: dict[str, Any] = {}
    for evaluator in evaluators:
        for key, value in evaluate(evaluator, inputs).items():
            if isinstance(value, PerRequest):
                per_request[key], metrics[key] = value, value.figure
            elif isinstance(value, float | int):
                metrics[key] = value
            else:
                details[key] = value
    return Evaluated(metrics, per_request, details)


def _ranked_by(ctx: RunContext, scores: Callable[[list[Pair]], torch.Tensor]) -> Callable[[list[Pair]], EvalInput]:
    """Inputs for a ranker without labels on the policy's scale: its ``scores`` in (0, 1)."""
    k = ctx.config["evaluator"]["k"]
    return lambda pairs: EvalInput(pairs=pairs, probs=None, policy=ctx.policy, k=k, ranking_scores=scores(pairs))


def _baselines(
    ctx: RunContext,
    splits: Mapping[str, list[Pair]],
    evaluators: list[Contributed[Evaluator]],
    serve: Serving,
    test_runs: dict[str, tuple[list[Pair], list[float]]],
) -> tuple[dict[str, Any], dict[str, Ranker]]:
    """Each baseline, ranked with no labels (so no kappa): the plugins' scorers, then the fusions of them (weights
    chosen on golden dev), then the teacher's base where a plugin offers it (a reference), each ranked as ``serve``
    serves it (and alone, when that differs), its test ranking into ``test_runs``; and the ranker each
    listed baseline that serves as one (:class:`~stillroom.baselines.ServesAsRanker`) would serve as, to time."""
    config = ctx.config["evaluator"]
    fusions = config["fusions"]
    scorers = {name: ctx.build_baseline(name) for name in dict.fromkeys(_scored_baselines(config))}
    if config["teacher_base"] and (base := ctx.build_baseline(TEACHER_BASE, required=False)) is not None:
        scorers[TEACHER_BASE] = base
    raw = {name: {split: scorer.score([p.request_text for p in pairs], [p.candidate_text for p in pairs]) for split, pairs in splits.items()}
           for name, scorer in scorers.items()}  # fmt: skip
    params = {name: int(scorer.params) for name, scorer in scorers.items()}
    fitted = {}
    for name in config["baselines"]:
        if name in fusions:
            fitted[name], raw[name] = fused_scores(raw, splits, fusions[name], fit_on=DEV, metric=primary_metric(config["k"]))
            params[name] = sum(params[component] for component in fusions[name])
    k = config["k"]
    results = {}
    for name in [*config["baselines"], *([TEACHER_BASE] if TEACHER_BASE in scorers else [])]:
        ranked = {split: EvalInput(pairs, None, ctx.policy, k, ranking_scores=to_unit_interval(raw[name][split])) for split, pairs in splits.items()}
        served = {split: serve(inputs) for split, inputs in ranked.items()}
        outcomes = {split: _evaluate(evaluators, inputs) for split, inputs in served.items()}
        test_runs[name] = (list(served[TEST].pairs), served[TEST].scores.tolist())
        extra = {"fusion": fitted[name].to_json()} if name in fitted else {}
        if serve.applies:
            extra["alone"] = _alone(_evaluate(evaluators, ranked[TEST]), IntervalSettings.of_run(ctx.config))
        results[name] = (params[name], outcomes, extra)
    listed = {name: scorer for name, scorer in scorers.items() if name in config["baselines"]}
    return results, {name: scorer.serving_ranker() for name, scorer in listed.items() if isinstance(scorer, ServesAsRanker)}


@dataclass(frozen=True)
class Serving:
    """How every model and baseline is ranked as served (``serving.hard_rules``): as it ranks, or with the policy's
    hard rules applied (:mod:`stillroom.evaluation.served`)."""

    mode: str

    @property
    def applies(self) -> bool:
        return self.mode == POLICY

    def __call__(self, inputs: EvalInput) -> EvalInput:
        return as_served(inputs) if self.applies else inputs


def _alone(outcome: Evaluated, settings: IntervalSettings) -> dict[str, Any]:
    """A model's test figures ranked by itself alone, with their intervals: what serving's rules were added to."""
    ci = {metric: list(mean_interval(*values.columns(), settings)) for metric, values in outcome.per_request.items()}
    return {"metrics": outcome.metrics, "ci": ci}


def _scored_baselines(config: Mapping[str, Any]) -> list[str]:
    """The baselines a plugin scores: those ``baselines`` names that are not fusions, and every fusion's parts."""
    fusions = config["fusions"]
    named = [name for name in config["baselines"] if name not in fusions]
    return [*named, *(part for name in config["baselines"] if name in fusions for part in fusions[name])]


def _off_scale(
    ctx: RunContext,
    trained: TrainedModel,
    splits: Mapping[str, list[Pair]],
    evaluators: list[Contributed[Evaluator]],
    test_runs: dict[str, tuple[list[Pair], list[float]]],
) -> tuple[int, dict[str, Evaluated]]:
    """A model on its own scale (the engagement teacher) ranks by its expected grade; it gets no kappa and is not timed.
    Its test ranking goes into ``test_runs``."""
    model = ctx.load_model(trained.name)
    batch_size = ctx.config["evaluator"]["batch_size"]

    def scores(pairs: list[Pair]) -> torch.Tensor:
        return expected_grade(predict_probs(model, pairs, ctx.num_labels(trained.role), ctx.trainer_config, batch_size))

    inputs = {split: _ranked_by(ctx, scores)(pairs) for split, pairs in splits.items()}  # each split scored once
    test_runs[trained.name] = (splits[TEST], inputs[TEST].scores.tolist())
    return count_parameters(model), {split: _evaluate(evaluators, ranked) for split, ranked in inputs.items()}


def _row(outcomes: Mapping[str, Evaluated], settings: IntervalSettings) -> dict[str, Any]:
    """A model's entry in ``evaluation.models``: test figures with their intervals and details, and its dev figures."""
    test = outcomes[TEST]
    ci = {metric: list(mean_interval(*values.columns(), settings)) for metric, values in test.per_request.items()}
    return {"metrics": test.metrics, "ci": ci, "details": test.details, **({"dev_metrics": outcomes[DEV].metrics} if DEV in outcomes else {})}


def _per_request_rows(model: str, outcomes: Mapping[str, Evaluated]) -> Iterator[dict[str, Any]]:
    for split, evaluated in outcomes.items():
        for metric, values in evaluated.per_request.items():
            for request_id, value in values.values.items():
                yield {
                    "split": split,
                    "model": model,
                    "request_id": request_id,
                    "metric": metric,
                    "value": value,
                    "weight": values.weight(request_id),
                }


def _comparisons(evaluator: Mapping[str, Any], plan: Plan) -> list[tuple[str, str]]:
    """The ``(a, b)`` pairs ``evaluator.comparisons`` names, among the models this recipe evaluates and its baselines."""
    return comparison_pairs(evaluator["comparisons"], [model.name for group in _models(plan) for model in group], evaluator["baselines"])


def check_config(config: Mapping[str, Any], plan: Plan) -> None:
    """Before any training: the comparisons ``evaluator.comparisons`` names are among the models this recipe
    evaluates, and the other settings the evaluation reads are in range."""
    models = [model.name for group in _models(plan) for model in group]
    evaluator = config["evaluator"]
    if evaluator["k"] < 1:
        raise StillroomError(f"k must be a positive number of top slots, got {evaluator['k']}", where="evaluator.k")
    intervals = evaluator["intervals"]
    if not 0 < intervals["confidence"] < 1:
        raise StillroomError(f"expected a confidence level between 0 and 1, got {intervals['confidence']}", where="evaluator.intervals.confidence")
    if intervals["method"] not in INTERVAL_METHODS:
        raise StillroomError(f"expected one of {', '.join(INTERVAL_METHODS)}, got {intervals['method']!r}", where="evaluator.intervals.method")
    if intervals["resamples"] < 100:
        raise StillroomError(f"expected at least 100 resamples, got {intervals['resamples']}", where="evaluator.intervals.resamples")
    if evaluator["objective"]["model"] not in [*models, *evaluator["baselines"]]:
        raise StillroomError(
            f"this run evaluates no model {evaluator['objective']['model']!r}; it has {', '.join(models)}", where="evaluator.objective.model"
        )
    _comparisons(evaluator, plan)


def run(ctx: RunContext) -> dict[str, Any]:
    config = ctx.config["evaluator"]
    splits = {split: pairs for split in (TEST, DEV) if (pairs := ctx.pairs(split))}
    evaluators = ctx.evaluators(config["names"])
    batch_size, k = config["batch_size"], config["k"]
    evaluated: dict[str, tuple[int, dict[str, Evaluated]]] = {}
    settings = IntervalSettings.of_run(ctx.config)
    serve = Serving(check_mode(ctx.config["serving"]["hard_rules"]))
    alone: dict[str, dict[str, Any]] = {}
    predictions = {}
    test_runs: dict[str, tuple[list[Pair], list[float]]] = {}
    timed: dict[str, Timed] = {}
    cached = set()
    on_scale, off_scale = _models(ctx.plan)
    for trained in on_scale:
        model_name = trained.name
        model = ctx.load_model(model_name)
        outcomes = {}
        for split, pairs in splits.items():
            probs = predict_probs(model, pairs, ctx.policy.num_labels, ctx.trainer_config, batch_size)
            inputs = EvalInput(pairs=pairs, probs=probs, policy=ctx.policy, k=k)
            served = serve(inputs)
            if split == TEST:
                predictions[model_name], test_runs[model_name] = probs, (list(served.pairs), served.scores.tolist())
                if serve.applies:
                    alone[model_name] = _alone(_evaluate(evaluators, inputs), settings)
            outcomes[split] = _evaluate(evaluators, served)
        evaluated[model_name] = (count_parameters(model), outcomes)
        timed[model_name] = Timed(model, throughput_batches(model, splits[TEST], batch_size, config["throughput_pairs"]))
        if caches_candidates(model):
            cached.add(model_name)
    baselines, serving_rankers = _baselines(ctx, splits, evaluators, serve, test_runs)
    for name, ranker in serving_rankers.items():
        timed[name] = Timed(ranker, throughput_batches(ranker, splits[TEST], batch_size, config["throughput_pairs"]))
        cached.update([name] if caches_candidates(ranker) else [])
    throughput = measure_throughputs(timed, config["throughput_rounds"], ctx.trainer_config, config["throughput_slice_seconds"])
    evaluated.update({trained.name: _off_scale(ctx, trained, splits, evaluators, test_runs) for trained in off_scale})
    evaluated.update({name: (params, outcomes) for name, (params, outcomes, _) in baselines.items()})

    results = {}
    for name, (params, outcomes) in evaluated.items():
        results[name] = {"params": params, "throughput_pairs_per_s": throughput.get(name), **_row(outcomes, settings)}
        results[name].update({"alone": alone[name]} if name in alone else {})
        results[name].update({"baseline": True, **baselines[name][2]} if name in baselines else {})
        results[name].update({"reference": True} if name == TEACHER_BASE else {})
        results[name].update({"candidates_cached": True} if name in cached else {})
    per_request = {name: outcomes[TEST].per_request for name, (_, outcomes) in evaluated.items()}
    pairs = _comparisons(config, ctx.plan) + ([("teacher", TEACHER_BASE)] if TEACHER_BASE in baselines else [])
    comparisons = compare(per_request, pairs, settings)
    ctx.io.write_tensors(PREDICTIONS, predictions)
    ctx.io.write_jsonl(PER_REQUEST, (row for name, (_, outcomes) in evaluated.items() for row in _per_request_rows(name, outcomes)))
    ctx.io.write_json(MODELS, results)
    ctx.io.write_json(COMPARISONS, comparisons)
    with ctx.io.folder(TREC) as folder:
        write_trec_files(folder, test_runs)
    requests = {split: len({p.request_id for p in pairs}) for split, pairs in splits.items()}
    sizes = {"test_pairs": len(splits[TEST]), "dev_pairs": len(splits.get(DEV, ())), "requests": requests, "hard_rules": serve.mode}
    ctx.io.write_json(SPLIT_SIZES, sizes)
    return {**sizes, "models": list(results)}
