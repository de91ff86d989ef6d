"""The shared BM25 index: best hits first, as many as asked for or as exist, scores in indexing order."""

from __future__ import annotations

import pytest

from stillroom.retrieval import Bm25Index

TEXTS = ["data engineer in berlin", "machine learning engineer in paris", "pastry chef in rome", "berlin data platform team"]


def test_top_hits_are_best_first_and_capped_at_the_index() -> None:
    index = Bm25Index(TEXTS)
    assert index.top(["data berlin"], 2) == [[0, 3]]  # both words in both; the shorter text first
    assert index.top(["pastry chef", "machine learning"], 1) == [[2], [1]]
    assert sorted(index.top(["engineer"], 50)[0]) == [0, 1, 2, 3]
    assert index.top([], 3) == []


def test_scores_follow_the_indexing_order() -> None:
    scores = Bm25Index(TEXTS).scores("pastry")
    assert scores.shape == (4,) and scores[2] > 0 and scores[[0, 1, 3]].max() == 0
    assert Bm25Index(TEXTS).scores("R").tolist() == [0.0] * 4  # one letter is no word to the tokenizer


def test_a_query_of_no_indexable_word_still_gets_its_k_hits() -> None:
    assert sorted(Bm25Index(TEXTS).top(["R", "the"], 4)[0]) == [0, 1, 2, 3]


def test_an_empty_index_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one text"):
        Bm25Index([])
