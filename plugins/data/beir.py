"""``data=beir data.path=DIR``: a collection in the BEIR layout, reranked as a search stack does.

The folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/test.tsv``, with ``qrels/train.tsv`` and
``qrels/dev.tsv`` where the collection has them, each with the header row
``query-id corpus-id score``.

Each query's candidates come from a first stage, BM25 over the corpus
(``bm25s``): its top ``data.first_stage_k`` documents, as production sees
them. Dev and test candidates are those and nothing else, so the figures are
what a reranker behind this first stage would reach, and the report shows the
first stage's recall@k on test (the reranking ceiling). Train queries also get
the judged documents BM25 missed (the best judged first, at most
``data.max_judged_per_query``): that is how rerankers are trained, on the
known relevant documents. ``data.add_missed_judged`` names the splits that get
them; adding ``test`` restores the old, inflated evaluation, for analysis only.
A judged document takes its qrels score as its label (``data.label_map`` maps
scores onto the policy's scale; by default a score is the label, capped at the
scale's top); an unjudged candidate is labeled 0, as pooled relevance
judgments assume.

Golden train, dev and test follow the qrels files. Dev is carved from the
train queries when there is no ``dev.tsv``; a collection that judges only test
queries (arguana, scidocs, trec-covid) lends ``data.train_share_of_test`` of
them to golden train and dev, and says so. The unlabeled pool is the
first-stage candidates of queries no qrels file judges; a collection without
such queries lends the train queries' candidates, unlabeled, for the teacher
to label.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stillroom import hookimpl
from stillroom.data import GOLDEN_SPLITS, DataBundle, FirstStage, Pair
from stillroom.errors import StillroomError
from stillroom.plugins.data.splits import assign_splits, seeded_subset
from stillroom.plugins.retrieval import Bm25Index
from stillroom.policy import Policy
from stillroom.reading import data_error, field, jsonl_objects, tsv_rows

NAME = "beir"
log = logging.getLogger(__name__)
QRELS_HEADER = ("query-id", "corpus-id", "score")
SPLIT_CAPS = {"train": "max_train_queries", "dev": "max_dev_queries", "test": "max_test_queries", "pool": "max_pool_queries"}


def read_corpus(path: Path) -> dict[str, dict[str, str]]:
    """Documents by id: ``title`` (may be empty) and ``text``; a document needs one of them."""
    corpus: dict[str, dict[str, str]] = {}
    for line, row in jsonl_objects(path):
        doc_id = str(field(row, "_id", (str, int), path, line))
        title = row.get("title") or ""
        text = row.get("text") or ""
        if not isinstance(title, str) or not isinstance(text, str):
            raise data_error(path, line, "fields 'title' and 'text' must be strings")
        if not title.strip() and not text.strip():
            raise data_error(path, line, f"document {doc_id!r} has neither title nor text")
        if doc_id in corpus:
            raise data_error(path, line, f"document id {doc_id!r} appears twice")
        corpus[doc_id] = {"title": title.strip(), "text": text.strip()}
    return corpus


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for line, row in jsonl_objects(path):
        query_id = str(field(row, "_id", (str, int), path, line))
        if query_id in queries:
            raise data_error(path, line, f"query id {query_id!r} appears twice")
        queries[query_id] = field(row, "text", str, path, line).strip()
    return queries


def read_qrels(path: Path, queries: Mapping[str, str], corpus: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Judgments by query, then document: the score of each judged pair."""
    qrels: dict[str, dict[str, int]] = {}
    for line, (query_id, doc_id, score) in tsv_rows(path, QRELS_HEADER):
        if query_id not in queries:
            raise data_error(path, line, f"query-id {query_id!r} is not in queries.jsonl")
        if doc_id not in corpus:
            raise data_error(path, line, f"corpus-id {doc_id!r} is not in corpus.jsonl")
        try:
            qrels.setdefault(query_id, {})[doc_id] = int(score)
        except ValueError:
            raise data_error(path, line, f"score must be an integer, got {score!r}") from None
    return qrels


def document_text(doc: Mapping[str, str]) -> str:
    return f"{doc['title']}. {doc['text']}" if doc["title"] and doc["text"] else doc["title"] or doc["text"]


class BeirCollection:
    """A BEIR folder read and checked, turned into the golden splits and the pool."""

    def __init__(self, folder: Path, data_config: Mapping[str, Any], policy: Policy, seed: int) -> None:
        if not folder.is_dir():
            raise StillroomError("expected the folder of a BEIR collection (corpus.jsonl, queries.jsonl, qrels/)", where=str(folder))
        self.config = data_config
        self.policy = policy
        self.seed = seed
        self.corpus = read_corpus(folder / "corpus.jsonl")
        self.queries = read_queries(folder / "queries.jsonl")
        qrels_dir = folder / "qrels"
        self.qrels = {
            split: read_qrels(qrels_dir / f"{split}.tsv", self.queries, self.corpus)
            for split in GOLDEN_SPLITS
            if split == "test" or (qrels_dir / f"{split}.tsv").exists()
        }
        if "train" not in self.qrels:  # many BEIR collections (arguana, scidocs, trec-covid) judge test queries only
            share = float(data_config.get("train_share_of_test", 0.5))
            self.carve("test", {"train": share, "test": 1.0})
            log.warning("%s has no qrels/train.tsv: %d of its test queries became golden train and dev", folder, len(self.qrels["train"]))
        if "dev" not in self.qrels:
            self.carve("train", {"train": 1 - float(data_config.get("dev_share", 0.2)), "dev": 1.0})
        label_map = data_config.get("label_map") or {}
        self.label_map = {int(score): int(label) for score, label in label_map.items()}
        self.with_missed = list(data_config.get("add_missed_judged", ["train"]) or ())
        if not set(self.with_missed) <= set(GOLDEN_SPLITS):
            raise StillroomError(f"expected a list of golden splits ({', '.join(GOLDEN_SPLITS)}), got {self.with_missed}", where="data.add_missed_judged")

    def carve(self, source: str, shares: Mapping[str, float]) -> None:
        """Split the queries of one qrels split into several, whole queries by a seeded shuffle."""
        judged = self.qrels.pop(source)
        assigned = assign_splits(judged, shares, self.seed)
        self.qrels.update({split: {q: docs for q, docs in judged.items() if assigned[q] == split} for split in shares})

    def label(self, score: int) -> int:
        return self.label_map.get(score, max(0, min(score, self.policy.max_label)))

    def split_queries(self) -> dict[str, list[str]]:
        """Query ids per golden split and pool, each capped at ``data.max_*_queries``."""
        judged = {split: list(qrels) for split, qrels in self.qrels.items()}
        all_judged = {q for ids in judged.values() for q in ids}
        unjudged = [q for q in self.queries if q not in all_judged]
        splits = {**judged, "pool": unjudged or judged["train"]}
        return {split: seeded_subset(ids, self.config.get(SPLIT_CAPS[split]), self.seed) for split, ids in splits.items()}

    def bundle(self) -> DataBundle:
        chosen = self.split_queries()
        doc_ids = list(self.corpus)
        first_stage = Bm25Index([document_text(self.corpus[d]) for d in doc_ids])
        k = int(self.config.get("first_stage_k", 20))
        pairs: dict[str, list[Pair]] = {}
        recalls: list[float] = []
        for split, query_ids in chosen.items():
            judged = self.qrels.get(split, {}) if split != "pool" else {}
            pairs[split] = []
            for query_id, top in zip(query_ids, first_stage.top([self.queries[q] for q in query_ids], k), strict=True):
                scores = judged.get(query_id, {})
                retrieved = [doc_ids[i] for i in top]
                if split == "test":
                    recalls += self.recall(scores, retrieved)
                missed = self.judged_beyond(scores, retrieved) if split in self.with_missed else []
                for doc_id in dict.fromkeys([*retrieved, *missed]):
                    label = None if split == "pool" else self.label(scores.get(doc_id, 0))
                    pairs[split].append(self.pair(query_id, doc_id, label))
        recall = sum(recalls) / len(recalls) if recalls else 0.0
        return DataBundle(
            golden={split: pairs[split] for split in GOLDEN_SPLITS}, pool=pairs["pool"], first_stage=FirstStage("bm25", k, recall)
        )

    def recall(self, scores: Mapping[str, int], retrieved: list[str]) -> list[float]:
        """The share of a query's relevant documents (a label at least the policy's relevant one) the first stage
        retrieved: one value, or none for a query with no relevant document (its recall is undefined)."""
        relevant = {doc for doc, score in scores.items() if self.label(score) >= self.policy.relevant_label}
        return [len(relevant.intersection(retrieved)) / len(relevant)] if relevant else []

    def judged_beyond(self, scores: Mapping[str, int], retrieved: list[str]) -> list[str]:
        """Judged documents the first stage missed, the best judged first, at most ``data.max_judged_per_query``."""
        missed = sorted((doc for doc in scores if doc not in set(retrieved)), key=lambda doc: -scores[doc])
        limit = self.config.get("max_judged_per_query")
        return missed if limit is None else missed[: int(limit)]

    def pair(self, query_id: str, doc_id: str, label: int | None) -> Pair:
        doc = self.corpus[doc_id]
        return Pair(
            pair_id=f"{query_id}:{doc_id}",
            request_id=query_id,
            candidate_id=doc_id,
            request_text=self.queries[query_id],
            candidate_text=document_text(doc),
            request={"text": self.queries[query_id]},
            candidate={"title": doc["title"], "text": doc["text"]},
            label=label,
        )


@hookimpl
def stillroom_data_source(product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> DataBundle | None:
    if data_config.get("name") != NAME:
        return None
    folder = Path(str(data_config["path"])).expanduser()
    return BeirCollection(folder, data_config, policy, int(data_config.get("seed", seed))).bundle()
