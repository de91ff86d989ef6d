"""Loss terms as components: plugins contribute them, ``conf/loss`` picks and weights them.

A loss term is a callable ``term(student_logits, batch) -> scalar``. The batch
is everything a term may read:

* ``labels``: the golden label of each row, or :data:`NO_LABEL`;
* ``group``: the row's request, numbered within the batch. Training keeps a
  request's candidates in one batch when a term ranks them (:data:`LISTS`);
* ``teachers``: per teacher objective (``"relevance"``, ``"engagement"``), a
  dict with ``probs`` (``[batch, teacher labels]``; its scale may differ from
  the student's), ``mask`` (rows that teacher labeled) and, where the labeler
  recorded it, ``hidden`` (its pooled representation of the pair);
* ``student_hidden``: the student's pooled representation, present when a
  term needs it (:data:`HIDDEN`).

A term that needs a teacher is left out of the ``student_no_kd`` baseline,
which learns from golden labels alone.
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

RELEVANCE = "relevance"
"""The teacher objective of labels under the policy (from the judge or the relevance teacher)."""
ENGAGEMENT = "engagement"
"""The teacher objective of labels learned from the engagement log."""
GOLDEN = "golden"
"""The golden labels as a teacher objective every training set has (one-hot on the policy's scale, where a pair
has a label): a ranking term reads the golden order with ``teacher: golden`` (``loss.finetune``)."""

TEACHER = "teacher"
"""A term that reads a teacher's soft labels."""
LISTS = "lists"
"""A term that compares the candidates of one request: batches keep them together."""
HIDDEN = "hidden"
"""A term that reads hidden states: its builder also gets ``student_width`` and ``teacher_width``."""


class LossTerm(Protocol):
    def __call__(self, logits: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor: ...


@dataclass(frozen=True)
class LossSpec:
    """A named loss a plugin contributes; ``build(**params)`` makes the term.

    ``needs`` says what the term reads beyond the student's logits and the golden
    labels (:data:`TEACHER`, :data:`LISTS`, :data:`HIDDEN`). A term with
    trainable parameters (a projection) is a ``torch.nn.Module``; training
    optimises them with the student's and throws them away after.
    """

    name: str
    build: Callable[..., LossTerm]
    needs: frozenset[str] = frozenset()
    description: str = ""


@dataclass(frozen=True)
class WeightedTerm:
    name: str
    weight: float
    term: LossTerm
    needs: frozenset[str] = frozenset()

    @property
    def needs_teacher(self) -> bool:
        return TEACHER in self.needs


@dataclass(frozen=True)
class HiddenWidths:
    """The widths a hidden-state term projects between: the student's, and each teacher's that recorded its own."""

    student: int
    teachers: Mapping[str, int]


def available_losses(specs_by_plugin: Sequence[Sequence[LossSpec]]) -> dict[str, LossSpec]:
    """Every loss the plugins contributed, by name; a later plugin overrides a built-in."""
    return merge_by_name(specs_by_plugin, lambda spec: spec.name)


def build_terms(
    terms_config: Sequence[Mapping[str, Any]], specs: Mapping[str, LossSpec], widths: HiddenWidths | None = None
) -> list[WeightedTerm]:
    """The weighted terms ``conf/loss`` asks for, each built with its own parameters.

    ``widths`` are needed only to build a term that reads hidden states; without
    them (checking a config before any model exists) such a term is built with
    placeholder widths to check its parameters, and refuses to run.
    """
    terms = []
    for index, entry in enumerate(terms_config):
        params = dict(entry)
        name = params.pop("name", None)
        weight = float(params.pop("weight", 1.0))
        where = f"loss.terms[{index}]"
        if name not in specs:
            raise StillroomError(f"unknown loss {name!r}; known losses: {', '.join(sorted(specs))}", where=f"{where}.name")
        spec = specs[name]
        if HIDDEN in spec.needs:
            teacher = str(params.get("teacher", RELEVANCE))
            if widths is not None and teacher not in widths.teachers:
                raise StillroomError(
                    f"loss {name!r} reads the hidden states of teacher {teacher!r}, which were not recorded "
                    "(the student and that teacher's labeler must both have forward_with_hidden)",
                    where=where,
                )
            params.update(student_width=widths.student if widths else 1, teacher_width=widths.teachers[teacher] if widths else 1)
        try:
            term = spec.build(**params)
        except TypeError as exc:
            raise StillroomError(f"bad parameters for loss {name!r}: {exc}", where=where) from exc
        if HIDDEN in spec.needs and widths is None:
            term = _unbuilt(name)
        terms.append(WeightedTerm(name, weight, term, spec.needs))
    if not terms:
        raise StillroomError("no loss terms configured", where="loss.terms")
    return terms


def _unbuilt(name: str) -> LossTerm:
    def term(logits: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        raise RuntimeError(f"loss {name!r} was built to check its parameters only; build it with the models' hidden widths")

    return term


def hard_label_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy on the rows that have a golden label (validation's yardstick); zero when none has."""
    known = labels != NO_LABEL
    if not known.any():
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(logits[known].float(), labels[known], label_smoothing=label_smoothing)
