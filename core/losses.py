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

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import torch

from stillroom.errors import StillroomError, did_you_mean
from stillroom.plugin_boundary import Contributed, ContributeHook, by_name, instance_of

if TYPE_CHECKING:
    from stillroom.plugin_manager import Plugins

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
    """One loss term: ``term(logits, batch)`` is a scalar tensor, the term's mean over the batch, for training to
    minimise. ``logits`` are the student's, ``[batch, num_labels]``; ``batch`` maps:

    * ``labels``: ``[batch]`` golden labels, :data:`NO_LABEL` (-1) on rows without one;
    * ``group``: ``[batch]`` the row's request, numbered within the batch; a :data:`LISTS` term finds a request's
      candidates by it;
    * ``teachers``: by objective (:data:`RELEVANCE`, :data:`ENGAGEMENT` where the recipe has that teacher, and
      :data:`GOLDEN`, the golden labels one-hot), a dict of ``probs`` (``[batch, teacher labels]``; the teacher's
      scale may differ from the student's), ``mask`` (``[batch]`` bool, the rows it labeled) and, where the labeler
      recorded it, ``hidden`` (``[batch, teacher width]``);
    * ``student_hidden``: ``[batch, student width]``, the student's pooled representation, present only when a term
      needs :data:`HIDDEN`.

    Rows a teacher did not label hold placeholders: read a teacher's rows through its ``mask``. Return a zero that
    keeps the graph (``logits.sum() * 0``) when a batch gives the term nothing to compare.

    Example::

        >>> import torch
        >>> from stillroom.api import RELEVANCE
        >>> def soft_cross_entropy(logits, batch):
        ...     teacher = batch["teachers"][RELEVANCE]
        ...     rows = teacher["mask"]
        ...     return -(teacher["probs"][rows] * logits[rows].log_softmax(-1)).sum(-1).mean()
        >>> probs = torch.tensor([[0.1, 0.2, 0.7], [0.0, 0.0, 0.0]])
        >>> batch = {"labels": torch.tensor([2, -1]), "group": torch.tensor([0, 0]),
        ...          "teachers": {RELEVANCE: {"probs": probs, "mask": torch.tensor([True, False])}}}
        >>> soft_cross_entropy(torch.zeros(2, 3), batch)
        tensor(1.0986)
    """

    def __call__(self, logits: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor: ...


@dataclass(frozen=True)
class LossSpec:
    """A named loss a plugin contributes; ``build(**params)`` makes the term.

    ``needs`` says what the term reads beyond the student's logits and the golden
    labels (:data:`TEACHER`, :data:`LISTS`, :data:`HIDDEN`). A term with
    trainable parameters (a projection) is a ``torch.nn.Module``; training
    optimises them with the student's and throws them away after.

    Example::

        >>> import torch
        >>> from stillroom.api import NO_LABEL, LossSpec
        >>> def build(label_smoothing=0.0):
        ...     def term(logits, batch):
        ...         known = batch["labels"] != NO_LABEL
        ...         labels = batch["labels"][known]
        ...         return torch.nn.functional.cross_entropy(logits[known], labels, label_smoothing=label_smoothing)
        ...     return term
        >>> spec = LossSpec("golden_ce", build, description="cross-entropy on golden labels")
        >>> term = spec.build(label_smoothing=0.1)  # conf/loss: golden_ce: {weight: 1.0, label_smoothing: 0.1}
        >>> term(torch.zeros(3, 4), {"labels": torch.tensor([3, NO_LABEL, 0])})
        tensor(1.3863)
    """

    name: str
    """What a ``loss.finetune`` or ``loss.distill`` entry names (or its ``loss:`` key); a later plugin's spec of the
    same name replaces an earlier one."""
    build: Callable[..., LossTerm]
    """``build(**params)`` returns the :class:`LossTerm`; ``params`` are the entry's keys but ``weight`` and ``loss``
    (a :data:`HIDDEN` term also gets ``student_width`` and ``teacher_width``), checked against its signature first."""
    needs: frozenset[str] = frozenset()
    """What the term reads (see above): with :data:`TEACHER` it is left out of the ``student_no_kd`` baseline, with
    :data:`LISTS` batches keep a request's candidates together, with :data:`HIDDEN` the batch has hidden states."""
    description: str = ""
    """What the term computes, in a line for people reading the plugin; the engine does not use it."""


@dataclass(frozen=True)
class WeightedTerm:
    """One term of a stage's loss: its config name, weight, the built term and, when a plugin built it, the loss it
    came from, so that a term that raises or returns something other than a scalar tensor is reported as that
    plugin's."""

    name: str
    weight: float
    term: LossTerm
    needs: frozenset[str] = frozenset()
    source: Contributed[LossSpec] | None = None

    @property
    def needs_teacher(self) -> bool:
        return TEACHER in self.needs

    def __call__(self, logits: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        """The term's value on one batch, unweighted."""
        if self.source is None:
            return self.term(logits, batch)
        return self.source.run(f"loss term {self.name!r}", self.term, logits, batch, expect=_not_a_scalar).reshape(())


@dataclass(frozen=True)
class HiddenWidths:
    """The widths a hidden-state term projects between: the student's, and each teacher's that recorded its own."""

    student: int
    teachers: Mapping[str, int]


def _not_a_scalar(value: object) -> str | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return None
    shape = f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
    return f"returned {shape}, expected a scalar tensor (the term's mean over the batch)"


def _not_a_term(term: object) -> str | None:
    return None if callable(term) else f"build returned {type(term).__name__}, expected a loss term: term(logits, batch) -> scalar tensor"


LOSSES: ContributeHook[LossSpec] = ContributeHook("stillroom_losses", instance_of(LossSpec, "a LossSpec"), "a list of LossSpec")


def available_losses(plugins: Plugins) -> dict[str, Contributed[LossSpec]]:
    """Every loss the plugins contribute (``stillroom_losses``), by name, with its plugin's name; a later plugin
    overrides a built-in."""
    return by_name(LOSSES(plugins), lambda spec: spec.name)


def term_entries(terms_config: Mapping[str, Any] | None, where: str) -> dict[str, dict[str, Any]]:
    """The terms a ``loss.<stage>`` config asks for, by name, each with its own parameters; a term set to null is off.

    A term's name is the loss it builds unless it says ``loss: NAME`` (two terms of one loss, for two teachers);
    ``weight`` is required, every other key goes to the loss's builder.
    """
    if not isinstance(terms_config, Mapping):
        raise StillroomError(
            "loss terms are keyed by name, each with its weight and parameters: {NAME: {weight: 1.0, PARAMETER: VALUE}, ...}",
            where=where,
        )
    entries = {}
    for name, params in terms_config.items():
        if params is None:
            continue
        if not isinstance(params, Mapping) or "weight" not in params:
            raise StillroomError(f"expected the term's parameters with its weight ({{weight: 1.0, ...}}), got {params!r}", where=f"{where}.{name}")
        entries[str(name)] = dict(params)
    if not entries:
        raise StillroomError("no loss terms configured", where=where)
    return entries


def build_terms(
    terms_config: Mapping[str, Any], specs: Mapping[str, Contributed[LossSpec]], widths: HiddenWidths | None = None, where: str = "loss"
) -> list[WeightedTerm]:
    """The weighted terms ``conf/loss`` asks for, each built with its own parameters.

    ``widths`` are needed only to build a term that reads hidden states; without
    them (checking a config before any model exists) such a term is built with
    placeholder widths to check its parameters, and refuses to run.
    """
    terms = []
    for term_name, params in term_entries(terms_config, where).items():
        name = str(params.pop("loss", term_name))
        weight = float(params.pop("weight"))
        here = f"{where}.{term_name}"
        if name not in specs:
            raise StillroomError(f"unknown loss {name!r}{did_you_mean(name, specs)}; known losses: {', '.join(sorted(specs))}", where=here)
        source = specs[name]
        spec = source.item
        if HIDDEN in spec.needs:
            teacher = str(params.get("teacher", RELEVANCE))
            if widths is not None and teacher not in widths.teachers:
                raise StillroomError(
                    f"loss {name!r} reads the hidden states of teacher {teacher!r}, which were not recorded "
                    "(the student and that teacher's labeler must both have forward_with_hidden)",
                    where=here,
                )
            params.update(student_width=widths.student if widths else 1, teacher_width=widths.teachers[teacher] if widths else 1)
        try:
            inspect.signature(spec.build).bind(**params)
        except TypeError as exc:
            raise StillroomError(f"bad parameters for loss {name!r}: {exc}", where=here) from exc
        except ValueError:  # a builder without a signature to read (a C callable): its own call says what is wrong
            pass
        term = source.run(f"loss {name!r}", partial(spec.build, **params), expect=_not_a_term)
        if HIDDEN in spec.needs and widths is None:
            terms.append(WeightedTerm(term_name, weight, _unbuilt(name), spec.needs))  # the engine's placeholder
            continue
        terms.append(WeightedTerm(term_name, weight, term, spec.needs, source))
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
