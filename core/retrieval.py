"""Okapi BM25 over a list of texts (``bm25s``), for every plugin that needs lexical retrieval.

The BEIR source's first stage, the ``bm25`` baseline, a search world's
retriever and the prompting judge's precedent picker all index texts and ask
for scores or the top hits; they share this one index so that they tokenize
alike (lower case, English stop words) and ``bm25s``'s progress bars and debug
logging stay quiet in one place. ``bm25s`` loads when the first index is built,
not when a plugin imports ``stillroom.api``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np


def _bm25s() -> Any:
    """``bm25s``, imported on first use and kept quiet: it logs each index build at DEBUG, and the level is set here
    rather than at import because Hydra configures logging after the plugins load."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _tokens(texts: Sequence[str]) -> list[list[str]]:
    return _bm25s().tokenize(list(texts), stopwords="en", return_ids=False, show_progress=False)


class Bm25Index:
    """A BM25 index over ``texts``; hits are positions in ``texts``."""

    def __init__(self, texts: Sequence[str]) -> None:
        if not texts:
            raise ValueError("a BM25 index needs at least one text")
        bm25s = _bm25s()
        self.size = len(texts)
        self.index = bm25s.BM25()
        self.index.index(bm25s.tokenize(list(texts), stopwords="en", show_progress=False), show_progress=False)

    def top(self, queries: Sequence[str], k: int) -> list[list[int]]:
        """Each query's ``k`` best texts (all of them when there are fewer), best first."""
        return [[i for i, _ in hits] for hits in self.top_scored(queries, k)]

    def top_scored(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """Each query's ``k`` best texts with their scores, best first."""
        if not queries:
            return []
        rows, scores = self.index.retrieve(_tokens(queries), k=min(k, self.size), show_progress=False, n_threads=1)
        return [[(int(i), float(score)) for i, score in zip(row, row_scores, strict=True)] for row, row_scores in zip(rows, scores, strict=True)]

    def scores(self, query: str) -> np.ndarray:
        """The query's score against every text, in the order they were indexed; zeros for a query of no indexable word ("R", "a")."""
        tokens = _tokens([query])[0]
        return self.index.get_scores(tokens) if tokens else np.zeros(self.size, dtype=np.float32)
