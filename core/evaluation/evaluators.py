"""Evaluators as components: plugins contribute them, ``conf/evaluator`` names them.

Every model is evaluated on the same golden pairs (test, and dev for choices).
An evaluator gets the pairs (with their fields, for policy rules), the model's
probabilities over the label scale, and the policy, and returns named
results: a :class:`PerRequest` for a figure measured on each request (it gets
an interval and paired comparisons), a float for a figure of the whole set,
anything else for the report's details.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from stillroom.data import Pair
from stillroom.errors import StillroomError, did_you_mean
from stillroom.plugin_boundary import Contributed, ContributeHook, by_name
from stillroom.policy import Policy
from stillroom.ranker import expected_grade

if TYPE_CHECKING:
    from stillroom.plugin_manager import Plugins


@dataclass(frozen=True)
class EvalInput:
    """One model's predictions on the golden test set.

    A trained model gives ``probs`` over the label scale; a baseline gives only
    ``ranking_scores`` (no labels), and evaluators that need labels skip it
    (:attr:`has_labels`).

    Example::

        >>> import torch
        >>> from stillroom.api import EvalInput, Pair, get_plugin_manager, load_policy
        >>> policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
        >>> pairs = [Pair("a", "r1", "c1", "member", "posting", label=3),
        ...          Pair("b", "r1", "c2", "member", "posting", label=0)]
        >>> probs = torch.tensor([[0.1, 0.1, 0.2, 0.6], [0.7, 0.2, 0.1, 0.0]])
        >>> inputs = EvalInput(pairs, probs=probs, policy=policy, k=10)
        >>> inputs.predicted_labels.tolist(), inputs.golden_labels.tolist(), inputs.request_ids
        ([3, 0], [3, 0], ['r1'])
        >>> inputs.scores  # the expected label, divided by the top label
        tensor([0.7667, 0.1333])
    """

    pairs: Sequence[Pair]
    """The golden pairs scored (test, or dev for choices made on it), with the fields the policy's rules read; row
    ``i`` of ``probs`` and ``ranking_scores`` is ``pairs[i]``."""
    probs: torch.Tensor | None
    """``[n_pairs, num_labels]`` probabilities over the policy's label scale, or ``None`` for a baseline."""
    policy: Policy
    """The run's policy: ``relevant_label`` for binary metrics, ``rules`` for compliance."""
    k: int
    """The cut-off of top-k figures (``evaluator.k``): NDCG@k, the violation rate at k."""
    ranking_scores: torch.Tensor | None = None
    """A baseline's scores, mapped into (0, 1); for a model with ``probs``, ``None`` (it ranks by its expected grade)
    or the scores it is served by (its expected grade with the hard rules applied: :mod:`stillroom.evaluation.served`)."""

    @property
    def has_labels(self) -> bool:
        return self.probs is not None

    @property
    def scores(self) -> torch.Tensor:
        """The ranking score: ``ranking_scores`` where given, else a model's expected grade, in (0, 1)."""
        if self.ranking_scores is not None:
            return self.ranking_scores
        assert self.probs is not None, "an EvalInput needs probs or ranking_scores"
        return expected_grade(self.probs)

    @property
    def predicted_labels(self) -> torch.Tensor:
        if self.probs is None:
            raise ValueError("a baseline predicts no labels; check has_labels first")
        return self.probs.argmax(-1)

    @property
    def golden_labels(self) -> torch.Tensor:
        return torch.tensor([p.label for p in self.pairs], dtype=torch.long)

    @property
    def request_ids(self) -> list[str]:
        """The requests in the order they first appear: the order of :attr:`request_index`'s ids."""
        return list(dict.fromkeys(p.request_id for p in self.pairs))

    @property
    def request_index(self) -> torch.Tensor:
        """Which request (member, query) each pair belongs to, as integer ids for torchmetrics."""
        ids: dict[str, int] = {}
        return torch.tensor([ids.setdefault(p.request_id, len(ids)) for p in self.pairs], dtype=torch.long)

    @property
    def ranks(self) -> torch.Tensor:
        """Each pair's place in its request's ranking, from 0 (:func:`ranks_within_requests`)."""
        return torch.tensor(ranks_within_requests(self.pairs, self.scores.tolist()), dtype=torch.long)

    @property
    def rank_scores(self) -> torch.Tensor:
        """Scores that order each request exactly as :attr:`ranks` does, all positive and none tied: what ranking
        metrics sort by, so that a tie is broken by the rule IR's tools follow, never by a sort's whim."""
        return 1.0 / (1.0 + self.ranks.double())


def ranks_within_requests(pairs: Sequence[Pair], scores: Sequence[float]) -> list[int]:
    """Each pair's place in its request's ranking, from 0: the highest score first, and a tie going to the candidate
    whose id sorts last, as trec_eval breaks ties, so that a TREC run file of these scores ranks the same anywhere."""
    order = sorted(range(len(pairs)), key=lambda i: pairs[i].candidate_id, reverse=True)
    order.sort(key=lambda i: -float(scores[i]))  # stable: ties keep the candidate-id order
    ranks, taken = [0] * len(pairs), dict.fromkeys((p.request_id for p in pairs), 0)
    for i in order:
        ranks[i], taken[pairs[i].request_id] = taken[pairs[i].request_id], taken[pairs[i].request_id] + 1
    return ranks


@dataclass(frozen=True)
class PerRequest:
    """A figure measured on each request; the table shows their weighted mean.

    Return one from an evaluator (``{"ndcg@10": PerRequest(...)}``) and the
    metric gets a bootstrap interval over requests, its values go to
    the ``evaluation.per_request`` artifact, and the report compares models on it with
    paired tests (:mod:`stillroom.evaluation.significance`).

    Example::

        >>> from stillroom.api import PerRequest
        >>> rate = PerRequest({"r1": 0.0, "r2": 0.5}, weights={"r1": 10.0, "r2": 2.0}, higher_is_better=False)
        >>> round(rate.figure, 4), rate.columns(["r2", "r1"])
        (0.0833, ([0.5, 0.0], [2.0, 10.0]))
    """

    values: Mapping[str, float]
    """Request id -> the metric on that request."""
    weights: Mapping[str, float] | None = None
    """Request id -> its weight in the mean (a violation rate weights a request by its top-k slots); ``None``: 1 each."""
    higher_is_better: bool = True
    """Whether a larger figure is the better one (``False`` for a violation rate): paired comparisons read it to
    call a model better or worse."""

    def weight(self, request_id: str) -> float:
        return 1.0 if self.weights is None else float(self.weights[request_id])

    def columns(self, requests: Sequence[str] | None = None) -> tuple[list[float], list[float]]:
        """The values and the weights of ``requests`` (all, in their order, by default), as the statistics take them."""
        requests = list(self.values) if requests is None else requests
        return [self.values[r] for r in requests], [self.weight(r) for r in requests]

    @property
    def figure(self) -> float:
        total = sum(self.weight(r) for r in self.values)
        return sum(v * self.weight(r) for r, v in self.values.items()) / total if total else 0.0


class Evaluator(Protocol):
    """A figure (or several) of one model on one golden split, from its :class:`EvalInput`.

    Contribute instances from ``stillroom_evaluators``; ``evaluator.names`` picks them by ``name``. Calling one
    returns named results: a :class:`PerRequest` for a figure measured per request, a float for a figure of the
    whole split, anything else (a mapping) for the model's details. An evaluator that needs labels checks
    ``inputs.has_labels``: a baseline has only ranking scores.

    Example::

        >>> import torch
        >>> from stillroom.api import EvalInput, Pair, PerRequest, get_plugin_manager, load_policy
        >>> class TopIsRelevant:
        ...     name = "top_is_relevant"
        ...     def __call__(self, inputs):
        ...         top = {}  # each request's highest-scored pair: sorted ascending, the last one written wins
        ...         for score, pair in sorted(zip(inputs.scores.tolist(), inputs.pairs), key=lambda row: row[0]):
        ...             top[pair.request_id] = pair
        ...         hits = {r: float(pair.label >= inputs.policy.relevant_label) for r, pair in top.items()}
        ...         return {"top_is_relevant": PerRequest(hits)}
        >>> policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
        >>> pairs = [Pair("a", "r1", "c1", "member", "posting", label=3),
        ...          Pair("b", "r1", "c2", "member", "posting", label=0)]
        >>> scores = torch.tensor([0.2, 0.9])  # a baseline's: it ranks the irrelevant posting first
        >>> TopIsRelevant()(EvalInput(pairs, None, policy, k=10, ranking_scores=scores))["top_is_relevant"].values
        {'r1': 0.0}
    """

    name: str
    """What ``evaluator.names`` lists to select it; a later plugin's evaluator of the same name replaces an earlier
    one."""

    def __call__(self, inputs: EvalInput) -> Mapping[str, Any]:
        """Named results: a :class:`PerRequest` or a float is a figure (``metrics`` in report.json and a
        column of the report's table; a :class:`PerRequest` with its interval), anything else (a mapping)
        goes to the model's ``details``."""


def _not_an_evaluator(item: object) -> str | None:
    return None if isinstance(getattr(item, "name", None), str) and callable(item) else "not an evaluator"


def _not_results(results: object) -> str | None:
    if isinstance(results, Mapping) and all(isinstance(key, str) for key in results):
        return None
    return f"returned {type(results).__name__}, expected a mapping of result names to figures or details"


EVALUATORS: ContributeHook[Evaluator] = ContributeHook(
    "stillroom_evaluators", _not_an_evaluator, "a list of Evaluator (each with a name, called with an EvalInput)"
)


def available_evaluators(plugins: Plugins) -> dict[str, Contributed[Evaluator]]:
    """Every evaluator the plugins contribute, by name, with its plugin's name; a later plugin overrides a built-in."""
    return by_name(EVALUATORS(plugins), lambda evaluator: evaluator.name)


def evaluate(evaluator: Contributed[Evaluator], inputs: EvalInput) -> Mapping[str, Any]:
    """``evaluator``'s results on ``inputs``; an exception from it, or results that are not a mapping of names,
    stop the run naming its plugin."""
    return evaluator.run(f"evaluator {evaluator.item.name!r}", evaluator.item, inputs, expect=_not_results)


def select_evaluators(names: Sequence[str], known: Mapping[str, Contributed[Evaluator]]) -> list[Contributed[Evaluator]]:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise StillroomError(
            f"unknown evaluator {unknown[0]!r}{did_you_mean(unknown[0], known)}; known evaluators: {', '.join(sorted(known))}",
            where="evaluator.names",
        )
    return [known[n] for n in names]
