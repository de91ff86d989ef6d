"""What a model may read beside the two texts: the numbers production hands a reranker with each candidate.

A reranker is called with one request's candidates, each with the first
stage's score (BM25's, a retrieval model's) at no cost to it. A model family
that wants such a number declares it (``pair_features``, from its config's
``features``), and the engine hands it over as one tensor, ``pair_features``
(``[batch, len(names)]``), beside the tokenized texts in every batch it
trains, labels, evaluates, times, exports and serves.

Each feature is computed over a whole request's candidates, since that is what
production gives a reranker, and normalised within it, so that a model reads
the same scale whatever the request:

``first_stage_score``
    :attr:`Pair.first_stage_score` min-max normalised among the request's
    candidates: 1 for the first stage's best, 0 for its worst; 0 for every
    candidate of a request whose scores are all equal or missing.

and every feature the product declares over the pair's fields (``product.features``,
:mod:`stillroom.field_features`), by its name, read as the pair carries it: a
fact such as "the candidate's author is one of the request's connections" is
the same fact whatever else the request's candidates are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from stillroom.errors import StillroomError

FIRST_STAGE_SCORE = "first_stage_score"
FEATURES = (FIRST_STAGE_SCORE,)
"""The features the engine computes for every run, by name; a product declares more (``product.features``)."""
INPUT = "pair_features"
"""The key of the features tensor among a batch's model inputs."""


@runtime_checkable
class ReadsPairFeatures(Protocol):
    """A ranker that reads numbers beside the texts: ``forward`` then takes ``pair_features`` (``[batch, len(names)]``),
    the features ``pair_features`` names, in that order.

    Example::

        >>> import torch
        >>> from stillroom.api import ReadsPairFeatures
        >>> class FirstStageAware(torch.nn.Module):
        ...     pair_features = ("first_stage_score",)
        >>> isinstance(FirstStageAware(), ReadsPairFeatures), isinstance(torch.nn.Linear(2, 2), ReadsPairFeatures)
        (True, False)
    """

    pair_features: tuple[str, ...]
    """The features it reads, each one of :data:`stillroom.features.FEATURES` or of the product's declared ones."""


@runtime_checkable
class FusesPairFeatures(ReadsPairFeatures, Protocol):
    """A ranker whose score is its own reading of the texts plus a weighted sum of the features it reads, weights
    the engine may set: before the first gradient step it sets them to the fusion (ranx's, over golden train) that
    ranks best (``train.start_from_fusion``), so training starts from what production's first stage and the model
    rank together rather than from the model alone (:mod:`stillroom.training.fusion_start`).

    Example::

        >>> import torch
        >>> from stillroom.api import FusesPairFeatures
        >>> class CosinePlusFirstStage(torch.nn.Module):
        ...     pair_features = ("first_stage_score",)
        ...     def fusion_inputs(self, **inputs): ...
        ...     def set_fusion_weights(self, weights): ...
        >>> isinstance(CosinePlusFirstStage(), FusesPairFeatures)
        True
    """

    def fusion_inputs(self, **inputs: torch.Tensor) -> torch.Tensor:
        """``[batch, 1 + len(pair_features)]`` for a batch of model inputs: its own score of each pair, then the
        features as it adds them."""
        ...

    def set_fusion_weights(self, weights: Sequence[float]) -> None:
        """From here on, rank as ``weights[0] * own score + sum(weights[i] * feature i)`` does."""
        ...


@runtime_checkable
class CalibratesFusion(FusesPairFeatures, Protocol):
    """A fusing ranker that can also fit what turns its fused score into label probabilities (an ordinal head's
    cuts) to labeled pairs, the rest held still. The engine calls it right after setting the fusion's
    weights, on the same pairs, so training starts calibrated: a head left at its initial cuts makes the first
    epochs' cross-entropy a matter of shifting every score, which a model does by moving what reads the texts,
    and the ranking it started from is lost on the way.

    Example::

        >>> import torch
        >>> from stillroom.api import CalibratesFusion
        >>> class Calibrated(torch.nn.Module):
        ...     pair_features = ("first_stage_score",)
        ...     def fusion_inputs(self, **inputs): ...
        ...     def set_fusion_weights(self, weights): ...
        ...     def calibrate(self, columns, labels): ...
        >>> isinstance(Calibrated(), CalibratesFusion)
        True
    """

    def calibrate(self, columns: torch.Tensor, labels: torch.Tensor) -> None:
        """Fit the score-to-probabilities part to ``labels`` (``[n]``) given ``columns`` (``[n, 1 + features]``, as
        :meth:`fusion_inputs` gives them), with the fusion's weights as set."""
        ...


class HasFeatures(Protocol):
    request_id: str
    first_stage_score: float | None
    features: Mapping[str, float]


def feature_names(ranker: object) -> tuple[str, ...]:
    """The features a ranker reads (none for one that does not declare any)."""
    return tuple(ranker.pair_features) if isinstance(ranker, ReadsPairFeatures) else ()


def check_feature_names(names: Sequence[str], where: str, declared: Sequence[str] = ()) -> tuple[str, ...]:
    """``names`` when each is a feature the engine computes or the product ``declared``; else an error naming the first
    unknown one."""
    known = (*FEATURES, *declared)
    for name in names:
        if name not in known:
            raise StillroomError(f"no pair feature {name!r}; the run has: {', '.join(known)} (declare more in product.features)", where=where)
    return tuple(names)


def pair_features(pairs: Sequence[HasFeatures]) -> list[dict[str, float]]:
    """Every feature of each pair, in order: the first stage's score normalised within the pair's request among
    ``pairs``, then the product's declared ones as the pair carries them."""
    scores: dict[str, list[float]] = {}
    for pair in pairs:
        if pair.first_stage_score is not None:
            scores.setdefault(pair.request_id, []).append(float(pair.first_stage_score))
    spans = {request: (min(values), max(values)) for request, values in scores.items()}
    rows = []
    for pair in pairs:
        low, high = spans.get(pair.request_id, (0.0, 0.0))
        score = pair.first_stage_score
        first_stage = (float(score) - low) / (high - low) if score is not None and high > low else 0.0
        rows.append({FIRST_STAGE_SCORE: first_stage, **pair.features})
    return rows


def chosen_by_first_stage(pairs: Sequence[HasFeatures]) -> list[bool]:
    """Whether each pair is one its first stage chose: in a request where some pairs carry its score, those; in a
    request where none do (no first stage, or data that gives none), every pair.

    Training lists may hold candidates the first stage never chose (judged documents it missed); serving's never
    do, so what must match serving (the fusion a model starts from) is fitted on the chosen ones alone.
    """
    scored = {pair.request_id for pair in pairs if pair.first_stage_score is not None}
    return [pair.first_stage_score is not None or pair.request_id not in scored for pair in pairs]


def model_inputs(
    ranker: Any, requests: Sequence[str], candidates: Sequence[str], features: Sequence[Mapping[str, float]] | None = None
) -> dict[str, torch.Tensor]:
    """What ``ranker.forward`` takes for a batch: its tokenization of the texts, and the features it reads (0 for a
    pair without them: a precedent, an example)."""
    inputs = ranker.tokenize(list(requests), list(candidates))
    names = feature_names(ranker)
    if names:
        features = features if features is not None else [{} for _ in requests]
        inputs[INPUT] = torch.tensor([[float(row.get(name, 0.0)) for name in names] for row in features], dtype=torch.float32).reshape(-1, len(names))
    return inputs
