"""Structured-config schemas: each config group is checked early, before any stage runs.

The schemas declare the keys the engine itself reads, with their types and
meanings, and no values: every value, defaults included, comes from the YAML
tree in ``conf/`` (a model config starts from ``conf/shared/model.yaml``), so a
default lives in one place. A plugin may add keys of its own to its group (a
model builder's sizes, say), so extra keys are allowed. A missing key or a
value of the wrong type stops the run with the group, the key and what was
expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stillroom.config.renamed import move_renamed_keys
from stillroom.errors import StillroomError


@dataclass
class ProductSchema:
    name: str = MISSING
    """The product's name: the run folder (``outputs/NAME/...``), the report and the data sources it is handed to
    (a ``DataSourceSpec``'s ``products``) use it."""
    policy: str = MISSING
    """A file path, or ``package.module:file`` for a policy shipped inside a package."""
    engagement_events: list[str] = MISSING
    """The engagement log's events, weakest first (``[viewed, applied]``): an engagement teacher's grades."""
    judge_prompt: Optional[str] = None  # noqa: UP045 - OmegaConf reads typing.Optional
    """The Jinja2 prompt a causal-LM judge reads (``package.module:file.j2``); needed only when the judge is a
    causal LM that reads a prompt."""
    world: Optional[dict[str, Any]] = None  # noqa: UP045 - OmegaConf reads typing.Optional
    """The synthetic world's sizes (``data=synthetic`` reads them): a ``WorldSize``, every key below."""
    features: Optional[dict[str, str]] = MISSING  # noqa: UP045 - OmegaConf reads typing.Optional
    """Features over the pair's fields a model may read (name -> expression over ``request.FIELD`` and
    ``candidate.FIELD``, as a hard rule's condition; :mod:`stillroom.field_features`)."""
    first_stage_scorer: Optional[str] = MISSING  # noqa: UP045 - OmegaConf reads typing.Optional
    """A baseline (``bm25``) whose score stands in as the first stage's for requests whose data carries none."""


@dataclass
class DataSchema:
    name: str = MISSING
    """The data source to read, a ``DataSourceSpec``'s name (``synthetic``, ``jsonl``, ``beir``, or a plugin's)."""


@dataclass
class TrainSchema:
    epochs: int = MISSING
    lr: float = MISSING
    batch_size: int = MISSING
    eval_batch_size: int = MISSING
    weight_decay: float = MISSING
    warmup_ratio: float = MISSING
    early_stopping_patience: Optional[int] = MISSING  # noqa: UP045 - OmegaConf reads typing.Optional
    """Stop after this many epochs without a better dev figure, keeping the best weights (those before training compete)."""
    start_from_fusion: bool = MISSING
    """A model that adds the first stage's score to its own starts from their best fusion on golden train."""
    calibrate_start: bool = MISSING
    """A fused start that can (``CalibratesFusion``) also fits its head to golden train's labels before training."""
    select_by: str = MISSING
    """The dev figure early stopping and the best epoch read: ``ce`` (cross-entropy) or ``ndcg`` (each request's list)."""
    leave_start_when: str = MISSING
    """When an epoch replaces the weights before training: ``better`` (a better dev figure) or ``resolved`` (a
    paired gain in NDCG@k over dev requests whose interval lies above zero)."""


@dataclass
class ModelSchema:
    name: str = MISSING
    train: TrainSchema = field(default_factory=TrainSchema)
    trust_remote_code: bool = MISSING


@dataclass
class LossSchema:
    finetune: dict[str, Any] = MISSING
    """The first labeler's loss terms, keyed by name, each with its weight: ``{NAME: {weight: 1.0}}``."""
    distill: dict[str, Any] = MISSING
    """The terms every model that learns soft labels trains with, keyed by name."""


@dataclass
class IntervalsSchema:
    confidence: float = MISSING
    resamples: int = MISSING
    method: str = MISSING
    """``scipy.stats.bootstrap``'s method: percentile, basic or BCa."""


@dataclass
class ObjectiveSchema:
    model: str = MISSING
    metric: Optional[str] = MISSING  # noqa: UP045 - OmegaConf reads typing.Optional
    """A figure the model has on golden dev; ``None``: ``ndcg@k``."""


@dataclass
class EvaluatorSchema:
    names: list[str] = MISSING
    k: int = MISSING
    batch_size: int = MISSING
    throughput_pairs: int = MISSING
    throughput_rounds: int = MISSING
    throughput_slice_seconds: float = MISSING
    baselines: list[str] = MISSING
    """The free rivals the student must beat to ship, by name: a plugin's (``bm25``, ``zero_shot``) or a fusion's."""
    fusions: dict[str, list[str]] = MISSING
    """Baselines made by fusing others (``hybrid: [bm25, zero_shot]``), each request's scores normalised and summed
    with weights chosen on golden dev (ranx); ranked when ``baselines`` names them."""
    teacher_base: bool = MISSING
    """Also rank the teacher's base model off the shelf, as a reference the verdict does not count, when a plugin
    says it is not ``zero_shot``'s (a teacher on a bigger base): what size added, beside what fine-tuning added."""
    comparisons: list[list[str]] = MISSING
    """``[a, b]`` pairs of models compared on test with paired intervals; ``baselines`` stands for each baseline."""
    intervals: IntervalsSchema = field(default_factory=IntervalsSchema)
    objective: ObjectiveSchema = field(default_factory=ObjectiveSchema)


@dataclass
class TrainerSchema:
    accelerator: str = MISSING
    devices: Any = MISSING
    strategy: str = MISSING
    precision: str = MISSING
    num_threads: int = MISSING
    progress_bar: bool = MISSING
    log_every_n_steps: int = MISSING
    deterministic: bool = MISSING


@dataclass
class LoggerSchema:
    name: str = MISSING


@dataclass
class GateSchema:
    min_kappa: float = MISSING
    """Quadratic Cohen's kappa the labeler must reach against golden dev."""
    precedents: bool = MISSING
    """The labeler must also label every precedent of the policy right."""
    min_gain_over_zero_shot: Optional[float] = MISSING  # noqa: UP045 - OmegaConf reads typing.Optional
    """The labeler's primary metric on golden dev minus zero-shot's must reach this; null does not ask."""
    gain_must_be_resolved: bool = MISSING
    """The gain's paired interval, not only its mean, must lie above ``min_gain_over_zero_shot``."""


@dataclass
class ComplianceSchema:
    mode: str = MISSING
    """What a student that breaks the hard rules more than its teacher, or above the bound, does to the run:
    ``fail`` (not exported), ``warn`` (exported) or ``off`` (records only); with either of the first two the report
    says not to ship and the command exits 3."""
    max_violation_rate: Optional[float] = MISSING  # noqa: UP045 - OmegaConf reads typing.Optional
    """Bound on the student's violation_rate@k on golden test; null: the policy's own, if its front matter sets one."""


@dataclass
class LabelingSchema:
    enforce_rules: bool = MISSING
    """Cap soft labels by the policy's hard rules before anything learns from them."""
    precedent_copies: int = MISSING
    """How many times the first labeler sees each precedent of the policy among its golden train pairs."""


@dataclass
class PruneSchema:
    enabled: bool = MISSING
    keep_heads: Optional[int] = MISSING  # noqa: UP045 - OmegaConf reads typing.Optional
    """Attention heads kept in each layer, the most important first; null keeps them all."""
    keep_layers: Optional[int] = MISSING  # noqa: UP045 - OmegaConf reads typing.Optional
    """Layers kept, the most important; null keeps them all."""
    epochs: int = MISSING
    importance_pairs: int = MISSING


@dataclass
class ServingSchema:
    hard_rules: str = MISSING
    """``off``, or ``policy``: the policy's hard rules applied as each says (``served: demote`` or ``filter``), and every
    model and baseline ranked so (:mod:`stillroom.evaluation.served`)."""


@dataclass
class ExportSchema:
    onnx: bool = MISSING
    """Also export the student to ONNX (``model.onnx``), checked against torch on golden test."""
    onnx_tolerance: float = MISSING
    """The largest difference in score (expected grade) between onnxruntime and torch that may ship."""


GROUP_SCHEMAS: dict[str, type] = {
    "product": ProductSchema,
    "serving": ServingSchema,
    "data": DataSchema,
    "teacher": ModelSchema,
    "student": ModelSchema,
    "loss": LossSchema,
    "evaluator": EvaluatorSchema,
    "trainer": TrainerSchema,
    "logger": LoggerSchema,
    "gate": GateSchema,
    "compliance": ComplianceSchema,
    "labeling": LabelingSchema,
    "prune": PruneSchema,
    "export": ExportSchema,
}
OPTIONAL_GROUP_SCHEMAS: dict[str, type] = {"judge": ModelSchema, "engagement_teacher": ModelSchema}
"""Groups a recipe may leave out (``judge: null``, ``engagement_teacher: null``)."""


def listed_loss_terms(stage: str, first: str = "NAME", where: str = "config") -> StillroomError:
    """Loss terms written as a list, the form before terms were keyed by name, answered with what to write instead:
    a list cannot be merged into the mapping the recipe's own options give, so the old form cannot keep working."""
    return StillroomError(
        f"loss terms are a mapping keyed by name, not a list (the form before 0.2.0): write `{stage}: {{{first}: {{weight: 1.0}}}}`, "
        "one key per term with its settings beside the weight (docs/reference/losses.md)",
        where=f"{where} loss.{stage}",
    )


def refuse_listed_loss_terms(cfg: DictConfig) -> None:
    """Stop at loss terms a config file wrote as a list (:func:`listed_loss_terms`)."""
    for stage, terms in (cfg.get("loss") or {}).items():
        if isinstance(terms, ListConfig):
            named = [term.get("name") for term in terms if isinstance(term, DictConfig) and term.get("name")]
            raise listed_loss_terms(str(stage), *named[:1])


def validate_config(cfg: DictConfig) -> dict[str, Any]:
    """Check every group against its schema (an old key name moved to its new one first, with a warning); return the
    whole config as plain Python objects."""
    move_renamed_keys(cfg)
    refuse_listed_loss_terms(cfg)
    validated = {}
    optional = {group: schema for group, schema in OPTIONAL_GROUP_SCHEMAS.items() if cfg.get(group) is not None}
    for group, schema in {**GROUP_SCHEMAS, **optional}.items():
        if group not in cfg or cfg[group] is None:
            raise StillroomError(f"config group {group!r} is missing; choose one with `{group}=NAME`", where="config")
        base = OmegaConf.structured(schema)
        OmegaConf.set_struct(base, False)
        try:
            merged = OmegaConf.merge(base, OmegaConf.to_container(cfg[group], resolve=True))
            validated[group] = OmegaConf.to_container(merged, resolve=True, throw_on_missing=True)
        except OmegaConfBaseException as exc:
            key = getattr(exc, "full_key", None) or "?"
            detail = str(exc).splitlines()[0]
            raise StillroomError(f"{detail} (schema {schema.__name__})", where=f"config {group}.{key}".rstrip(".")) from exc
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.update(validated)
    if not isinstance(plain.get("seed"), int):
        raise StillroomError(f"seed must be an integer, got {plain.get('seed')!r}", where="config seed")
    return plain
