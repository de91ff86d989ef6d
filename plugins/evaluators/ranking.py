"""Ranking quality per request (member, query) through torchmetrics' retrieval metrics.

Scores passed to torchmetrics are probabilities (the expected grade in (0, 1)),
never raw logits: torchmetrics may drop non-positive scores.
"""

from __future__ import annotations

from dataclasses import dataclass

from stillroom import hookimpl
from stillroom.evaluation import EvalInput


@dataclass(frozen=True)
class RankingEvaluator:
    name: str = "ranking"

    def __call__(self, inputs: EvalInput) -> dict[str, float]:
        from torchmetrics.retrieval import RetrievalMAP, RetrievalMRR, RetrievalNormalizedDCG  # seconds to import: only when evaluating

        scores, indexes, golden = inputs.scores, inputs.request_index, inputs.golden_labels
        relevant = golden >= inputs.policy.relevant_label
        k = inputs.k
        return {
            f"ndcg@{k}": float(RetrievalNormalizedDCG(top_k=k)(scores, golden.float(), indexes=indexes)),
            f"mrr@{k}": float(RetrievalMRR(top_k=k)(scores, relevant, indexes=indexes)),
            "map": float(RetrievalMAP()(scores, relevant, indexes=indexes)),
        }


@hookimpl
def stillroom_evaluators() -> list[RankingEvaluator]:
    return [RankingEvaluator()]
