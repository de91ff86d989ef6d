"""The ``bm25`` baseline: Okapi BM25 (``bm25s``) over the candidate texts, each request's text as the query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from stillroom import hookimpl
from stillroom.ranker import BuildContext
from stillroom.retrieval import Bm25Index

NAME = "bm25"


class BM25Scorer:
    """Indexes every distinct candidate text of the pairs it is given, then scores each pair's candidate
    against its request: what a team without a model would rank by."""

    params = 0

    def score(self, requests: Sequence[str], candidates: Sequence[str]) -> torch.Tensor:
        documents = list(dict.fromkeys(candidates))
        row_of = {text: row for row, text in enumerate(documents)}
        index = Bm25Index(documents)
        by_request: dict[str, np.ndarray] = {request: index.scores(request) for request in dict.fromkeys(requests)}
        return torch.tensor([float(by_request[r][row_of[c]]) for r, c in zip(requests, candidates, strict=True)])


@hookimpl
def stillroom_build_baseline(name: str, model_config: Mapping[str, Any], context: BuildContext) -> BM25Scorer | None:
    return BM25Scorer() if name == NAME else None
