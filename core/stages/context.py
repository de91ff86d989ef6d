"""What every stage receives: the resolved config, the store, the policy and the plugins.

Stages ask the context for models, loss terms, evaluators and loggers; the
context asks the plugin manager. This is where "no plugin answered" turns into
a clear error that names the config value and lists what exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.loggers import Logger

from stillroom import engagement
from stillroom.artifacts import ArtifactStore
from stillroom.baselines import BUILD_BASELINE, Scorer
from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.evaluation import Evaluator, available_evaluators, select_evaluators
from stillroom.features import check_feature_names
from stillroom.field_features import declared_features, with_field_features
from stillroom.losses import ENGAGEMENT, GOLDEN, RELEVANCE, HiddenWidths, WeightedTerm, available_losses, build_terms, term_entries
from stillroom.plugin_boundary import Contributed, FirstAnswerHook
from stillroom.plugin_manager import Plugins
from stillroom.policy import Policy
from stillroom.policy.precedents import render_precedents
from stillroom.ranker import (
    BuildContext,
    ModelSpec,
    Ranker,
    available_models,
    build_model,
    for_inference,
    load_model_state,
    model_spec,
)
from stillroom.stages.config_view import ConfigView
from stillroom.stages.contracts import Plan, Stage, data_split
from stillroom.stages.stage_io import StageIO

MODEL_ROLES = ("judge", "teacher", engagement.ROLE, "student")
BUILDS_MODELS = ("seed", "served_base", "product.name", "product.features", "product.engagement_events")
"""What building any model reads beside its role's config (:meth:`RunContext.build_model`, and a baseline built for
the teacher): the seed its initialisation starts from, the base a teacher on the served base starts from, the
precedents and features its build context carries, and the engagement teacher's grades."""
SCORES = (*BUILDS_MODELS, "trainer")
"""What scoring with a trained model reads: building it, and the trainer's settings Lightning predicts with."""


def lightning_loggers(result: Any) -> str | None:
    """The contract of ``stillroom_build_loggers``: a list of Lightning loggers, empty for none."""
    if isinstance(result, list) and all(isinstance(logger, Logger) for logger in result):
        return None
    return f"returned {type(result).__name__}, expected a list of Lightning loggers (empty for none)"


BUILD_LOGGERS: FirstAnswerHook[list[Logger]] = FirstAnswerHook("stillroom_build_loggers", lightning_loggers)


@dataclass
class RunContext:
    config: Mapping[str, Any]
    """The resolved, schema-typed run config; inside a stage (:meth:`for_stage`), a :class:`ConfigView` of the
    entries the stage declares."""
    store: ArtifactStore
    policy: Policy
    plugins: Plugins
    plan: Plan
    """The recipe's stages and what each reads and writes."""
    stage_fingerprints: dict[str, str] = field(default_factory=dict)
    """Each stage's input fingerprint, as the recipe computes it before running the stage."""
    io: StageIO = field(init=False)
    """The running stage's reads and writes; outside a stage, reads of a finished run."""

    def __post_init__(self) -> None:
        self.io = StageIO(self.store, self.plan)

    def for_stage(self, stage: Stage) -> RunContext:
        """This context as ``stage`` sees it: reading the config entries, and reading and writing the artifacts, it
        declares."""
        ctx = replace(self, config=ConfigView(self.config, stage.config_keys, stage.name))
        ctx.io = StageIO(self.store, self.plan, stage)
        return ctx

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def trainer_config(self) -> dict[str, Any]:
        return self.config["trainer"]

    def checkpoint_dir(self) -> Path | None:
        """Where the running training stage saves and finds its checkpoints; none outside the recipe (a stage run by hand)."""
        stage = self.io.stage.name if self.io.stage else None
        if stage not in self.stage_fingerprints:
            return None
        return self.store.checkpoint_dir(stage, self.stage_fingerprints[stage])

    # -- data -----------------------------------------------------------------

    def pairs(self, split: str) -> list[Pair]:
        """A split written by the ``prepare`` stage: train, dev, test or pool."""
        return [Pair.from_row(row) for row in self.io.read_jsonl(data_split(split))]

    def precedents(self, required: bool = True) -> list[Pair]:
        """The policy's precedents as labeled pairs, rendered by the product's plugin (see :func:`render_precedents`),
        with the product's declared features, as the data's pairs have them."""
        pairs = render_precedents(self.policy, self.config["product"]["name"], self.plugins, required)
        return with_field_features(pairs, declared_features(self.config["product"]["features"]))

    # -- models ---------------------------------------------------------------

    def build_model(self, role: str, model_config: Mapping[str, Any], teacher: Ranker | None = None) -> Ranker:
        """Build a model through the plugins; its random initialisation depends on the run's seed alone."""
        torch.manual_seed(self.seed)
        return build_model(self.models(), role, model_config, self._build_context(role, teacher))

    def models(self) -> dict[str, ModelSpec]:
        """Every model family the plugins contribute, by name, each building through its plugin's boundary."""
        return available_models(self.plugins)

    def label_names(self, role: str) -> tuple[str, ...]:
        """The grades ``role`` predicts: the engagement teacher's own scale, the policy's labels for every other role."""
        if role == engagement.ROLE:
            return ("none", *self.config["product"]["engagement_events"])
        return tuple(label.name for label in self.policy.labels)

    def num_labels(self, role: str) -> int:
        return len(self.label_names(role))

    def _build_context(self, role: str = "", teacher: Ranker | None = None) -> BuildContext:
        return BuildContext(
            num_labels=self.num_labels(role),
            teacher=teacher,
            label_names=self.label_names(role),
            policy=self.policy,
            precedents=tuple(self.precedents(required=False)),
            served_base=self.config.get("served_base"),
            features=tuple(self.config["product"]["features"] or ()),
        )

    def build_baseline(self, name: str, required: bool = True, where: str = "evaluator.baselines") -> Scorer | None:
        """The baseline ``name`` from the plugin that provides it for this run's teacher; ``None`` when no plugin
        does and it is not ``required`` (``teacher_base`` for a teacher on the served base). ``where`` is the config
        key that named it, for the error."""
        torch.manual_seed(self.seed)
        teacher_config = self.config["teacher"]
        answer = BUILD_BASELINE(
            self.plugins, f"stillroom_build_baseline({name!r})", name=name, model_config=teacher_config, context=self._build_context()
        )
        if answer is None:
            if not required:
                return None
            raise StillroomError(
                f"no plugin provides the baseline {name!r} for a teacher named {teacher_config.get('name')!r}; "
                f"remove it from {where} or install the plugin that provides it",
                where=where,
            )
        return answer.item

    def load_model(self, name: str) -> Ranker:
        """Rebuild the trained model ``name`` from its role's config and load its weights, ready for scoring."""
        trained = self.plan.model(name)
        model = self.build_model(trained.role, self.config[trained.role])
        if self.io.has(trained.pruning.name):
            model.apply_pruning(self.io.read_json(trained.pruning.name))
        load_model_state(model, self.io.path(trained.weights.name))
        return for_inference(model)

    # -- components -------------------------------------------------------------

    def loss_terms(self, terms_config: Mapping[str, Any], widths: HiddenWidths | None = None, where: str = "loss") -> list[WeightedTerm]:
        specs = available_losses(self.plugins)
        return build_terms(terms_config, specs, widths, where)

    def evaluators(self, names: Sequence[str]) -> list[Contributed[Evaluator]]:
        """The evaluators ``names`` names, each with its plugin's name (run them with
        :func:`stillroom.evaluation.evaluate`)."""
        return select_evaluators(names, available_evaluators(self.plugins))

    def check_components(self) -> None:
        """Fail before any training on a model, loss or evaluator that no plugin provides, a model whose family's
        check refuses its config (weights not on disk), a feature no one computes, a loss reading a teacher the recipe lacks, or precedents no
        plugin renders."""
        models = self.models()
        for role in MODEL_ROLES:
            if self.config.get(role):
                spec = model_spec(models, role, self.config[role])
                if spec.check is not None:
                    spec.check(role, self.config[role])
        declared = [feature.name for feature in declared_features(self.config["product"]["features"])]
        for role in MODEL_ROLES:
            if self.config.get(role):
                check_feature_names(self.config[role].get("features") or (), f"{role}.features", declared)
        from stillroom.training import selected_by  # Lightning loads only for a run that trains

        for role in MODEL_ROLES:
            if self.config.get(role):
                selected_by(self.config[role]["train"], where=f"{role}.train.select_by")
        teachers = {RELEVANCE, GOLDEN} | ({ENGAGEMENT} if self.config.get(engagement.ROLE) else set())
        for stage in ("finetune", "distill"):
            self.loss_terms(self.config["loss"][stage], where=f"loss.{stage}")
            for name, entry in term_entries(self.config["loss"][stage], f"loss.{stage}").items():
                teacher = entry.get("teacher", RELEVANCE)
                if teacher not in teachers:
                    hint = f"; add one with `{engagement.ROLE}=NAME`" if teacher == ENGAGEMENT else ""
                    raise StillroomError(
                        f"the loss reads teacher {teacher!r}, which this recipe does not have (it has: {', '.join(sorted(teachers))}){hint}",
                        where=f"loss.{stage}.{name}.teacher",
                    )
        self.evaluators(self.config["evaluator"]["names"])
        if self.config["gate"]["precedents"] or self.config["labeling"]["precedent_copies"]:
            self.precedents()

    def loggers(self, run_name: str) -> list[Logger]:
        logger_config = self.config["logger"]
        answer = BUILD_LOGGERS(self.plugins, logger_config=logger_config, run_dir=Path(self.store.root), run_name=run_name)
        if answer is None:
            raise StillroomError(f"no plugin provides a logger named {logger_config.get('name')!r}", where="logger.name")
        return answer.item
