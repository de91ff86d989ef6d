"""Fusing scorers with ranx: weights chosen on labeled requests, scores normalised per request."""

from __future__ import annotations

import pytest
import torch

from stillroom.data import Pair
from stillroom.evaluation.fusion import Fusion, fit_fusion, fused_scores


def _pairs(requests: int, candidates: int, relevant: int = 2, label: int = 2) -> list[Pair]:
    return [
        Pair(f"r{r}:c{c}", f"r{r}", f"c{c}", f"request {r}", f"candidate {c}", label=label if c < relevant else 0)
        for r in range(requests)
        for c in range(candidates)
    ]


def _scorers(pairs: list[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
    """One scorer that knows the relevant candidates, one that ranks them last."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.rand(len(pairs), generator=generator)
    relevant = torch.tensor([float(p.label > 0) for p in pairs])
    return relevant + 0.5 * noise, -relevant + 0.5 * torch.rand(len(pairs), generator=generator)


@pytest.mark.slow
def test_the_fitted_weights_favour_the_scorer_that_ranks_the_labeled_requests_well() -> None:
    pairs = _pairs(requests=12, candidates=8)
    good, bad = _scorers(pairs)
    fusion = fit_fusion(pairs, [bad, good], "ndcg@5")
    assert fusion.method == "wsum" and fusion.norm == "min-max"
    assert fusion.weights[1] > fusion.weights[0] and sum(fusion.weights) == pytest.approx(1.0)
    fused = fusion.apply(pairs, [bad, good])
    top = [max((i for i, p in enumerate(pairs) if p.request_id == f"r{r}"), key=lambda i: float(fused[i])) for r in range(12)]
    assert all(pairs[i].label > 0 for i in top)


def test_scores_are_normalised_per_request_before_they_are_summed() -> None:
    """A scorer whose scale differs from request to request still counts the same in each."""
    pairs = _pairs(requests=2, candidates=3)
    first = torch.tensor([3.0, 2.0, 1.0, 300.0, 200.0, 100.0])  # same order, a hundred times the scale in r1
    second = torch.tensor([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    fused = Fusion("wsum", "min-max", (0.5, 0.5)).apply(pairs, [first, second])
    assert torch.allclose(fused[:3], fused[3:])


def test_requests_without_a_positive_label_leave_the_scorers_weighted_equally() -> None:
    pairs = _pairs(requests=3, candidates=4, relevant=0)
    good, bad = _scorers(pairs)
    assert fit_fusion(pairs, [good, bad], "ndcg@5").weights == (0.5, 0.5)


def test_a_fusion_fitted_on_one_split_scores_every_split() -> None:
    dev, test = _pairs(requests=6, candidates=5), _pairs(requests=4, candidates=5)
    scores = {"bm25": {}, "zero_shot": {}}
    for split, pairs in {"dev": dev, "test": test}.items():
        scores["bm25"][split], scores["zero_shot"][split] = _scorers(pairs)
    fusion, fused = fused_scores(scores, {"dev": dev, "test": test}, ["zero_shot", "bm25"], fit_on="dev", metric="ndcg@5")
    assert fusion.weights[1] > fusion.weights[0]  # bm25 here is the scorer that knows
    assert fused["test"].shape == (len(test),) and fused["dev"].shape == (len(dev),)
