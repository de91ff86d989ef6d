"""The policy's precedents as pairs a model can score.

A policy states its precedents as fields (``request: {title: ..., city: ...}``)
so that people can read them and rules can check them; models read text. The
product's ``stillroom_render_pair`` hook turns one into the other, exactly as
its data source renders its own pairs.
"""

from __future__ import annotations

from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.plugin_boundary import FirstAnswerHook, PluginBroke
from stillroom.plugin_manager import Plugins
from stillroom.policy import Policy


def render_precedents(policy: Policy, product: str, plugins: Plugins, required: bool = True) -> list[Pair]:
    """Every precedent as a labeled :class:`Pair`, rendered by the product's plugin.

    When no plugin renders the product's pairs, that is an error if the caller
    ``required`` them (the gate), and no precedents otherwise (a prompt).
    """
    pairs = []
    for index, precedent in enumerate(policy.precedents):
        try:
            answer = RENDER_PAIR(plugins, product=product, request=precedent.request, candidate=precedent.candidate)
        except PluginBroke as broke:
            if not isinstance(broke.__cause__, KeyError):
                raise
            if not required:
                return []
            raise StillroomError(
                f"plugin {broke.plugin!r} needs field {broke.__cause__.args[0]!r} to render this precedent as text",
                where=f"{policy.source}: precedents[{index}]",
            ) from None
        if answer is None:
            if not required:
                return []
            raise StillroomError(
                f"no plugin renders {product!r} pairs as text, so the policy's precedents cannot be scored; "
                "implement stillroom_render_pair in the product plugin, or set gate.precedents=false and labeling.precedent_copies=0",
                where=f"{policy.source}: precedents",
            )
        request_text, candidate_text = answer.item
        pairs.append(
            Pair(
                pair_id=f"precedent-{index}",
                request_id=f"precedent-{index}",
                candidate_id=f"precedent-{index}",
                request_text=request_text,
                candidate_text=candidate_text,
                request=dict(precedent.request),
                candidate=dict(precedent.candidate),
                label=precedent.label,
            )
        )
    return pairs


def two_texts(texts: object) -> str | None:
    """The contract of ``stillroom_render_pair``: a (request_text, candidate_text) pair of strings."""
    if isinstance(texts, tuple | list) and len(texts) == 2 and all(isinstance(text, str) for text in texts):
        return None
    return f"returned {texts!r:.80}, expected (request_text, candidate_text), two strings"


RENDER_PAIR: FirstAnswerHook[tuple[str, str]] = FirstAnswerHook("stillroom_render_pair", two_texts)
