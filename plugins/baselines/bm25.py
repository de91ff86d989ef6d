"""The ``bm25`` baseline: Okapi BM25 (``bm25s``) over the candidate texts, each request's text as the query."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from stillroom import hookimpl
from stillroom.ranker import BuildContext

NAME = "bm25"


class BM25Scorer:
    """Indexes every distinct candidate text of the pairs it is given, then scores each pair's candidate
    against its request: what a team without a model would rank by."""

    params = 0

    def score(self, requests: Sequence[str], candidates: Sequence[str]) -> torch.Tensor:
        import bm25s  # only when the baseline runs

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each index build at DEBUG

        documents = list(dict.fromkeys(candidates))
        row_of = {text: row for row, text in enumerate(documents)}
        index = bm25s.BM25()
        index.index(bm25s.tokenize(documents, stopwords="en", show_progress=False), show_progress=False)
        by_request: dict[str, Any] = {}
        for request in dict.fromkeys(requests):
            query = bm25s.tokenize([request], stopwords="en", return_ids=False, show_progress=False)[0]
            by_request[request] = index.get_scores(query)
        return torch.tensor([float(by_request[r][row_of[c]]) for r, c in zip(requests, candidates, strict=True)])


@hookimpl
def stillroom_build_baseline(name: str, model_config: Mapping[str, Any], context: BuildContext) -> BM25Scorer | None:
    return BM25Scorer() if name == NAME else None
