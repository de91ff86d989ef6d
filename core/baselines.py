"""Baselines: what a product team would do without the recipe, scored on the same golden test set.

A baseline scores pairs with no label scale: higher ranks first. Two ship with
stillroom, each a plugin answering :func:`stillroom_build_baseline`:

* ``bm25``: lexical retrieval over the candidate text, the request as the query;
* ``zero_shot``: the base model of the served size off the shelf
  (``served_base``), with no fine-tuning (for an encoder the cosine of
  mean-pooled embeddings; for a causal-LM teacher the prompted P("yes")), the
  "just use the pretrained model" option.

The engine adds the fusions ``evaluator.fusions`` defines (``hybrid``: BM25 and
``zero_shot``, weights chosen on golden dev; :mod:`stillroom.evaluation.fusion`),
and, as a reference the verdict does not count, ``teacher_base``: the teacher's
own base off the shelf where a plugin says it is not the served one. The report
ranks them beside the trained models, so it shows by how much the recipe beats
each one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

from stillroom.data import Pair
from stillroom.plugin_boundary import FirstAnswerHook
from stillroom.ranker import Ranker

TEACHER_BASE = "teacher_base"
"""The teacher's base model off the shelf: a plugin answers it only when that base is not ``zero_shot``'s."""


@runtime_checkable
class Scorer(Protocol):
    """A baseline's whole interface: a relevance score per pair, and its size.

    ``stillroom_build_baseline`` returns one for a name ``evaluator.baselines`` lists. The evaluate stage maps its
    scores into (0, 1) (only their order counts) and reports it beside the trained models on the figures that need
    no predicted labels.

    Example::

        >>> import torch
        >>> from stillroom.api import Scorer
        >>> class WordOverlap:
        ...     params = 0
        ...     def score(self, requests, candidates):
        ...         words = [(set(r.lower().split()), set(c.lower().split())) for r, c in zip(requests, candidates)]
        ...         overlap = [len(request & candidate) for request, candidate in words]
        ...         return torch.tensor(overlap, dtype=torch.float)
        >>> scorer = WordOverlap()
        >>> isinstance(scorer, Scorer), scorer.score(["data engineer"] * 2, ["Senior Data Engineer", "Accountant"])
        (True, tensor([2., 0.]))
    """

    params: int
    """Parameters the baseline uses (0 for a lexical one)."""

    def score(self, requests: Sequence[str], candidates: Sequence[str]) -> torch.Tensor:
        """One score per pair, ``[n]``; higher ranks first. Gets every pair of the test set at once
        (a lexical index needs the whole candidate collection) and batches as it likes."""


@runtime_checkable
class ServesAsRanker(Protocol):
    """A baseline that would serve as a ranker: the evaluate stage times that ranker beside the trained models, as it
    times them, so the report sets the free model's cost per request (pairs/s) beside the student's. ``zero_shot``
    on an encoder is one (the cosine of cached candidate vectors); a baseline that is not is reported untimed.

    Example::

        >>> import torch
        >>> from stillroom.api import ServesAsRanker
        >>> class Served:
        ...     params = 0
        ...     def score(self, requests, candidates): ...
        ...     def serving_ranker(self): ...
        >>> isinstance(Served(), ServesAsRanker)
        True
    """

    def serving_ranker(self) -> Ranker:
        """A ranker that orders pairs as :meth:`Scorer.score` does, in the form a team would serve it."""
        ...


def is_scorer(scorer: object) -> str | None:
    """The contract of ``stillroom_build_baseline``: a :class:`Scorer`, with a ``score`` method and its ``params``."""
    if callable(getattr(scorer, "score", None)) and isinstance(getattr(scorer, "params", None), int):
        return None
    return f"returned {type(scorer).__name__}, expected a Scorer (a score(requests, candidates) method and an int params)"


BUILD_BASELINE: FirstAnswerHook[Scorer] = FirstAnswerHook("stillroom_build_baseline", is_scorer)


def to_unit_interval(scores: torch.Tensor) -> torch.Tensor:
    """Scores mapped into (0, 1) in the same order, for metrics that want probability-like positives."""
    return torch.sigmoid((scores.float() - scores.float().mean()) / scores.float().std().clamp_min(1e-6))


def ranking_scores(scorer: Scorer, pairs: Sequence[Pair]) -> torch.Tensor:
    """A baseline's scores for ``pairs`` in (0, 1), as an evaluator ranks them."""
    return to_unit_interval(scorer.score([p.request_text for p in pairs], [p.candidate_text for p in pairs]))
