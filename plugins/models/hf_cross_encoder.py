"""Registers the transformers cross-encoder builders (see :mod:`stillroom.plugins.models.hf_builders`).

transformers loads only when one of these names is asked for: commands that
load every plugin without building a model (``stillroom policy check``,
``stillroom plugins``) do not pay the seconds it takes to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stillroom import hookimpl
from stillroom.ranker import BuildContext

if TYPE_CHECKING:
    from stillroom.plugins.models.cross_encoder import HFCrossEncoder

BUILDERS = {
    "hf_cross_encoder": "build_pretrained",
    "hf_from_config": "build_from_config",
    "hf_pruned_teacher": "build_pruned_teacher",
}
"""Config ``name`` -> builder function in :mod:`stillroom.plugins.models.hf_builders`."""


@hookimpl
def stillroom_build_model(role: str, model_config: Mapping[str, Any], context: BuildContext) -> HFCrossEncoder | None:
    builder = BUILDERS.get(str(model_config.get("name")))
    if builder is None:
        return None
    from stillroom.plugins.models import hf_builders

    return getattr(hf_builders, builder)(model_config, context, role)
