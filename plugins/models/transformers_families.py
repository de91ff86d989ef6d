"""Registers the transformers model families: cross-encoders, two-tower, late-interaction and bi-encoder students
(built by :mod:`stillroom.plugins.models.hf_builders`), their exported folders, and the ``zero_shot`` baseline.

transformers loads only when one of these names is asked for: commands that
load every plugin without building a model (``stillroom policy check``,
``stillroom plugins``) do not pay the seconds it takes to import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillroom import hookimpl
from stillroom.baselines import TEACHER_BASE
from stillroom.errors import StillroomError
from stillroom.ranker import BuildContext, ModelSpec, Ranker

if TYPE_CHECKING:
    from stillroom.plugins.models.bi_encoder import AdaptedBiEncoder
    from stillroom.plugins.models.cross_encoder import HFCrossEncoder
    from stillroom.plugins.models.late_interaction import LateInteractionRanker
    from stillroom.plugins.models.two_tower import TwoTowerRanker
    from stillroom.plugins.models.zero_shot import EmbeddingCosineScorer

FAMILIES = {
    "hf_cross_encoder": ("build_pretrained", "a pretrained transformers encoder as a cross-encoder (LoRA, similarity prior, features fused)"),
    "hf_from_config": ("build_from_config", "a transformers encoder built from a config (random weights: tests, students from scratch)"),
    "hf_pruned_teacher": ("build_pruned_teacher", "the teacher's encoder cut to fewer layers, as a cross-encoder student"),
    "two_tower": ("build_two_tower", "a frozen encoder reading each side apart, trainable towers, cached candidates"),
    "late_interaction": ("build_late_interaction", "a frozen encoder's token states of each side meeting in one cross-attention"),
    "bi_encoder": ("build_bi_encoder", "a pretrained encoder whole and frozen, read by cosine, a residual adapter per side (features fused)"),
}
"""Config ``name`` -> its builder function in :mod:`stillroom.plugins.models.hf_builders`, and what it builds."""
EXPORTED_FOLDERS = {
    "stillroom_ranker.json": ("cross_encoder", "load_folder"),
    "stillroom_late_interaction.json": ("late_interaction", "load_late_interaction_folder"),
    "stillroom_two_tower.json": ("two_tower", "load_two_tower_folder"),
    "stillroom_bi_encoder.json": ("bi_encoder", "load_bi_encoder_folder"),
}
"""The settings file each family's ``save_pretrained`` writes -> its module and loader (the file marks the folder as theirs)."""
ZERO_SHOT = "zero_shot"
READS_FEATURES = ("bi_encoder", "hf_cross_encoder")
"""The families whose models read pair features beside the texts (``features`` in their config; a cross-encoder
with ``similarity_prior``)."""


def _builder(name: str) -> Callable[[str, Mapping[str, Any], BuildContext], Ranker]:
    def build(role: str, model_config: Mapping[str, Any], context: BuildContext) -> Ranker:
        from stillroom.plugins.models import hf_builders

        return getattr(hf_builders, FAMILIES[name][0])(model_config, context, role)

    return build


def ready_to_build(role: str, model_config: Mapping[str, Any]) -> None:
    """The base model and tokenizer a config names are on disk (``locate`` says what to install when not), and a
    model that lists pair features is of a family that reads them (the run checks that each is one it computes)."""
    from stillroom.plugins.models.locate import locate

    for key in ("pretrained", "tokenizer"):
        if model_config.get(key):
            locate(str(model_config[key]), f"{role}.{key}")
    features = list(model_config.get("features") or ())
    reads = model_config.get("name") in READS_FEATURES and (model_config.get("name") != "hf_cross_encoder" or model_config.get("similarity_prior"))
    if features and not reads:
        raise StillroomError(
            f"model {model_config.get('name')!r} reads no pair features (those that do: bi_encoder, hf_cross_encoder with "
            f"similarity_prior); remove {role}.features",
            where=f"{role}.features",
        )


@hookimpl
def stillroom_models() -> list[ModelSpec]:
    return [ModelSpec(name, _builder(name), description, check=ready_to_build) for name, (_, description) in FAMILIES.items()]


@hookimpl
def stillroom_load_exported(directory: Path) -> HFCrossEncoder | TwoTowerRanker | LateInteractionRanker | AdaptedBiEncoder | None:
    """A folder one of these families saved, recognised by its settings file; ``None`` for any other."""
    for marker, (module, loader) in EXPORTED_FOLDERS.items():
        if (Path(directory) / marker).is_file():
            from importlib import import_module

            return getattr(import_module(f"stillroom.plugins.models.{module}"), loader)(Path(directory))
    return None


@hookimpl
def stillroom_build_baseline(name: str, model_config: Mapping[str, Any], context: BuildContext) -> EmbeddingCosineScorer | None:
    """For a transformers teacher, its base models read by mean-pooled cosine as they ship: ``zero_shot`` the served
    base (``context.served_base``; a from-config teacher's own encoder as built), ``teacher_base`` the teacher's
    pretrained base where it is another model."""
    if name not in (ZERO_SHOT, TEACHER_BASE) or model_config.get("name") not in FAMILIES:
        return None
    from stillroom.plugins.models import hf_builders

    own, served = model_config.get("pretrained"), context.served_base
    bigger = bool(own and served and own != served)
    if name == TEACHER_BASE:
        return hf_builders.build_zero_shot(model_config, context) if bigger else None
    served_config = {**model_config, "pretrained": served, "tokenizer": served} if bigger else model_config
    return hf_builders.build_zero_shot(served_config, context)
