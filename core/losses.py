"""Loss terms as components: plugins contribute them, ``conf/loss`` picks and weights them.

A loss term is a callable ``term(student_logits, batch) -> scalar``. The batch
holds ``labels`` (golden label or -1 where a pair has none) and, when a
teacher labeled the pairs, ``teacher_probs`` with ``teacher_mask`` saying which
rows have them. A term that needs the teacher (``needs_teacher``) is left out
of the ``student_no_kd`` baseline, which learns from golden labels alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from stillroom.errors import StillroomError
from stillroom.plugin_manager import merge_by_name

NO_LABEL = -1
"""The label of a pair that has none (the unlabeled pool): hard-label terms skip it."""


class LossTerm(Protocol):
    def __call__(self, logits: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor: ...


@dataclass(frozen=True)
class LossSpec:
    """A named loss a plugin contributes; ``build(**params)`` makes the term."""

    name: str
    build: Callable[..., LossTerm]
    needs_teacher: bool
    description: str = ""


@dataclass(frozen=True)
class WeightedTerm:
    name: str
    weight: float
    term: LossTerm
    needs_teacher: bool


def available_losses(specs_by_plugin: Sequence[Sequence[LossSpec]]) -> dict[str, LossSpec]:
    """Every loss the plugins contributed, by name; a later plugin overrides a built-in."""
    return merge_by_name(specs_by_plugin, lambda spec: spec.name)


def build_terms(terms_config: Sequence[Mapping[str, Any]], specs: Mapping[str, LossSpec]) -> list[WeightedTerm]:
    """The weighted terms ``conf/loss`` asks for, each built with its own parameters."""
    terms = []
    for index, entry in enumerate(terms_config):
        params = dict(entry)
        name = params.pop("name", None)
        weight = float(params.pop("weight", 1.0))
        if name not in specs:
            raise StillroomError(
                f"unknown loss {name!r}; known losses: {', '.join(sorted(specs))}", where=f"loss.terms[{index}].name"
            )
        spec = specs[name]
        try:
            term = spec.build(**params)
        except TypeError as exc:
            raise StillroomError(f"bad parameters for loss {name!r}: {exc}", where=f"loss.terms[{index}]") from exc
        terms.append(WeightedTerm(name, weight, term, spec.needs_teacher))
    if not terms:
        raise StillroomError("no loss terms configured", where="loss.terms")
    return terms


def hard_label_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy on the rows that have a golden label (validation's yardstick); zero when none has."""
    known = labels != NO_LABEL
    if not known.any():
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(logits[known].float(), labels[known], label_smoothing=label_smoothing)
