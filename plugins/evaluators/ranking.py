"""Ranking quality per request (member, query) through torchmetrics' retrieval metrics.

Each metric is kept per request (:class:`~stillroom.evaluation.PerRequest`),
so the report can put an interval on it and compare models request by
request. torchmetrics sorts by :attr:`~stillroom.evaluation.EvalInput.rank_scores`:
the model's order with ties broken as trec_eval breaks them (the candidate whose
id sorts last first), all positive (torchmetrics may drop non-positive scores),
so that IR's tools reading the run's TREC files rank as the report did. A
request with no relevant candidate scores 0, as torchmetrics' default does: a
reranker cannot bring back what its first stage missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from stillroom import hookimpl
from stillroom.evaluation import EvalInput, PerRequest


def _each_request(values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """torchmetrics' ``aggregation``: keep every request's value (in the order of their ids) instead of their mean."""
    return values


@dataclass(frozen=True)
class RankingEvaluator:
    name: str = "ranking"

    def __call__(self, inputs: EvalInput) -> dict[str, PerRequest]:
        from torchmetrics.retrieval import RetrievalMAP, RetrievalMRR, RetrievalNormalizedDCG  # seconds to import: only when evaluating

        scores, indexes, golden = inputs.rank_scores, inputs.request_index, inputs.golden_labels
        relevant = golden >= inputs.policy.relevant_label
        k = inputs.k
        metrics = {
            f"ndcg@{k}": RetrievalNormalizedDCG(top_k=k, aggregation=_each_request)(scores, golden.float(), indexes=indexes),
            f"mrr@{k}": RetrievalMRR(top_k=k, aggregation=_each_request)(scores, relevant, indexes=indexes),
            "map": RetrievalMAP(aggregation=_each_request)(scores, relevant, indexes=indexes),
        }
        requests = inputs.request_ids
        # torchmetrics squeezes a one-request result to a scalar: reshape gives every result one value per request
        return {name: PerRequest(dict(zip(requests, values.reshape(-1).tolist(), strict=True))) for name, values in metrics.items()}


@hookimpl
def stillroom_evaluators() -> list[RankingEvaluator]:
    return [RankingEvaluator()]
