"""Fusing scorers with ranx: each request's scores normalised, then a weighted sum whose weights labeled requests choose.

A team without stillroom ships exactly this: BM25 and an encoder off the shelf,
fused, the weight tuned on a few judged queries (``hybrid``). ranx
(Bassani, ECIR 2022) holds the fusion methods and their optimisation
(``optimize_fusion``: a grid over the weights, scored by a metric against
qrels); this module only turns pairs and score tensors into ranx's runs and
back. Normalisation is per request (``min-max`` by default), as a reranker
sees one request's candidates at a time; ``norm=None`` sums the scores as they
are, the fusion a model that adds features to its own score computes
(:mod:`stillroom.training.fusion_start`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from stillroom.data import Pair

DEFAULT_METHOD, DEFAULT_NORM = "wsum", "min-max"
DEFAULT_STEP = 0.1
"""The grid ranx searches the weights over."""


class Judged(Protocol):
    """A row fusion reads: its request and its label (0, or below it, when not relevant). A pair and a training item are."""

    request_id: str
    label: int


@dataclass(frozen=True)
class Fusion:
    """How to fuse scorers' scores: a ranx method and normalisation, and each scorer's weight."""

    method: str
    norm: str | None
    weights: tuple[float, ...]

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "norm": self.norm, "weights": list(self.weights)}

    def apply(self, pairs: Sequence[Judged], scores: Sequence[torch.Tensor]) -> torch.Tensor:
        """The fused score of each pair, in order; a pair ranx leaves out of its fused run (none should be) scores lowest."""
        from ranx import fuse

        with _quiet():
            fused = fuse(runs=[_run(pairs, s) for s in scores], norm=self.norm, method=self.method, params={"weights": self.weights})
        by_request = fused.to_dict()
        return torch.tensor([float(by_request.get(p.request_id, {}).get(_key(i), float("-inf"))) for i, p in enumerate(pairs)])


def fit_fusion(
    pairs: Sequence[Judged],
    scores: Sequence[torch.Tensor],
    metric: str,
    method: str = DEFAULT_METHOD,
    norm: str | None = DEFAULT_NORM,
    step: float = DEFAULT_STEP,
) -> Fusion:
    """The weights of ``scores`` that rank ``pairs`` best by ``metric`` (a ranx metric, ``ndcg@10``) against their labels,
    searched by ranx over a grid of ``step``.

    Requests without a positive label say nothing about an order and are left out; with none left, the scorers
    are weighted equally.
    """
    from ranx import Qrels, optimize_fusion

    judged = _qrels(pairs)
    if not judged:
        return Fusion(method, norm, tuple(1.0 / len(scores) for _ in scores))
    kept = [i for i, p in enumerate(pairs) if p.request_id in judged]
    runs = [_run([pairs[i] for i in kept], s[kept], kept) for s in scores]
    with _quiet():
        best = optimize_fusion(qrels=Qrels(judged), runs=runs, norm=norm, method=method, metric=metric, show_progress=False, step=step)
    return Fusion(method, norm, tuple(float(w) for w in best["weights"]))


def _key(row: int) -> str:
    """A candidate's name in ranx's runs: its row, unique within its request whatever its id."""
    return f"row{row}"


def _qrels(pairs: Sequence[Judged]) -> dict[str, dict[str, int]]:
    judged: dict[str, dict[str, int]] = {}
    for row, pair in enumerate(pairs):
        if pair.label > 0:
            judged.setdefault(pair.request_id, {})[_key(row)] = int(pair.label)
    return judged


def _run(pairs: Sequence[Judged], scores: torch.Tensor, rows: Sequence[int] | None = None) -> object:
    from ranx import Run

    by_request: dict[str, dict[str, float]] = {}
    for pair, row, score in zip(pairs, range(len(pairs)) if rows is None else rows, scores.tolist(), strict=True):
        by_request.setdefault(pair.request_id, {})[_key(row)] = float(score)
    return Run(by_request)


class _quiet(warnings.catch_warnings):
    """ranx's numba kernels warn of an unsigned-to-signed cast on every first call; the values are candidate counts."""

    def __enter__(self) -> None:
        super().__enter__()
        warnings.filterwarnings("ignore", message=".*unsafe cast from uint64 to int64.*")


def fused_scores(
    component_scores: Mapping[str, Mapping[str, torch.Tensor]],
    splits: Mapping[str, Sequence[Pair]],
    components: Sequence[str],
    fit_on: str,
    metric: str,
) -> tuple[Fusion, dict[str, torch.Tensor]]:
    """Fuse ``components`` (names in ``component_scores``, each a score tensor per split) fitted on the split ``fit_on``;
    the fusion and its scores on every split. Without that split (a run with no golden dev) the parts weigh the same."""
    if not splits.get(fit_on):
        fusion = Fusion(DEFAULT_METHOD, DEFAULT_NORM, tuple(1.0 / len(components) for _ in components))
    else:
        fusion = fit_fusion(splits[fit_on], [component_scores[name][fit_on] for name in components], metric)
    return fusion, {split: fusion.apply(pairs, [component_scores[name][split] for name in components]) for split, pairs in splits.items()}
