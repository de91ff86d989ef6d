"""Registers the ``causal_lm_judge`` builder (see :mod:`stillroom.plugins.models.causal_lm_builder`).

transformers, peft and the GGUF reader load only when a config asks for this model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stillroom import hookimpl
from stillroom.ranker import BuildContext, ModelSpec

if TYPE_CHECKING:
    from stillroom.plugins.models.causal_lm_judge import CausalLMJudge
    from stillroom.plugins.models.zero_shot import PromptedYesScorer

NAME = "causal_lm_judge"


def _build(role: str, model_config: Mapping[str, Any], context: BuildContext) -> CausalLMJudge:
    from stillroom.plugins.models.causal_lm_builder import build_causal_lm_judge

    return build_causal_lm_judge(model_config, context, role)


@hookimpl
def stillroom_models() -> list[ModelSpec]:
    return [ModelSpec(NAME, _build, "a causal LM read as a judge: P(yes) of a prompt quoting the policy, on an ordinal head")]


@hookimpl
def stillroom_build_baseline(name: str, model_config: Mapping[str, Any], context: BuildContext) -> PromptedYesScorer | None:
    """``zero_shot`` for a causal-LM teacher: its prompted P("yes") before any fine-tuning."""
    if name != "zero_shot" or model_config.get("name") != NAME:
        return None
    from stillroom.plugins.models.causal_lm_builder import build_causal_lm_judge
    from stillroom.plugins.models.zero_shot import PromptedYesScorer

    return PromptedYesScorer(build_causal_lm_judge(model_config, context, "teacher"))
