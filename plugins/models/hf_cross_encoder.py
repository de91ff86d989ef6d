"""Registers the transformers ranker builders (see :mod:`stillroom.plugins.models.hf_builders`).

transformers loads only when one of these names is asked for: commands that
load every plugin without building a model (``stillroom policy check``,
``stillroom plugins``) do not pay the seconds it takes to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillroom import hookimpl
from stillroom.ranker import BuildContext

if TYPE_CHECKING:
    from stillroom.plugins.models.bi_encoder import AdaptedBiEncoder
    from stillroom.plugins.models.cross_encoder import HFCrossEncoder
    from stillroom.plugins.models.late_interaction import LateInteractionRanker
    from stillroom.plugins.models.two_tower import TwoTowerRanker
    from stillroom.plugins.models.zero_shot import EmbeddingCosineScorer

BUILDERS = {
    "hf_cross_encoder": "build_pretrained",
    "hf_from_config": "build_from_config",
    "hf_pruned_teacher": "build_pruned_teacher",
    "two_tower": "build_two_tower",
    "late_interaction": "build_late_interaction",
    "bi_encoder": "build_bi_encoder",
}
"""Config ``name`` -> builder function in :mod:`stillroom.plugins.models.hf_builders`."""
EXPORTED_FOLDERS = {
    "stillroom_ranker.json": ("cross_encoder", "load_folder"),
    "stillroom_late_interaction.json": ("late_interaction", "load_late_interaction_folder"),
    "stillroom_two_tower.json": ("two_tower", "load_two_tower_folder"),
    "stillroom_bi_encoder.json": ("bi_encoder", "load_bi_encoder_folder"),
}
"""The settings file each family's ``save_pretrained`` writes -> its module and loader (the file marks the folder as theirs)."""
TEACHER_BUILDERS = ("hf_cross_encoder", "hf_from_config")
"""The builders that make a model from a base encoder of its own, which ``zero_shot`` can use untrained."""


@hookimpl
def stillroom_model_names() -> list[str]:
    return list(BUILDERS)


@hookimpl
def stillroom_build_model(
    role: str, model_config: Mapping[str, Any], context: BuildContext
) -> HFCrossEncoder | TwoTowerRanker | LateInteractionRanker | AdaptedBiEncoder | None:
    builder = BUILDERS.get(str(model_config.get("name")))
    if builder is None:
        return None
    from stillroom.plugins.models import hf_builders

    return getattr(hf_builders, builder)(model_config, context, role)


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
    """``zero_shot`` for a transformers teacher: its encoder as it ships (or as built, for a from-config one)."""
    if name != "zero_shot" or model_config.get("name") not in TEACHER_BUILDERS:
        return None
    from stillroom.plugins.models import hf_builders

    return hf_builders.build_zero_shot(model_config, context)
