"""``data=beir data.path=DIR``: a collection in the BEIR layout, reranked as a search stack does.

The folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/test.tsv``, with ``qrels/train.tsv`` and
``qrels/dev.tsv`` where the collection has them, each with the header row
``query-id corpus-id score``.

Each query's candidates come from a first stage, BM25 over the corpus
(``bm25s``): its top ``data.first_stage_k`` documents, as production sees
them, each pair carrying BM25's score (``Pair.first_stage_score``). Dev and test candidates are those and nothing else, so the figures are
what a reranker behind this first stage would reach, and the report shows the
first stage's recall@k on test (the reranking ceiling). Train lists are shaped
the same way by default. ``data.add_missed_judged: [train]`` adds to each train
query the judged documents BM25 missed (the best judged first, at most
``data.max_judged_per_query``, with no ``first_stage_score``: the first stage
did not choose them), as rerankers are often trained on the known relevant
documents; those are the texts BM25 scores lowest, unlike anything in a list
the model serves. Adding ``test`` inflates the evaluation, for analysis only.
A document whose id is its query's is never a candidate (a collection such as
ArguAna holds each query's own text in its corpus), as BEIR evaluates.
A judged document takes its qrels score as its label (``data.label_map`` maps
scores onto the policy's scale; by default a score is the label, capped at the
scale's top); an unjudged candidate is labeled 0, as pooled relevance
judgments assume.

Golden train, dev and test follow the qrels files. Dev is carved from the
train queries when there is no ``dev.tsv``; a collection that judges only test
queries (arguana, scidocs, trec-covid) lends ``data.train_share_of_test`` of
them to golden train and dev, and says so.

The unlabeled pool is what the teacher labels for the student, and its labels
are free, so it reaches further than the golden set: the first stage's top
``data.pool_first_stage_k`` documents of every query whose judgments the run
does not use (queries no qrels file judges, train queries beyond
``data.max_train_queries``) and of the queries of a query log
(``data.query_log``, a file like ``queries.jsonl``: the unlabeled queries a
team has). A query judged in dev or test never joins it. A collection with no
such query lends golden train's queries, their labels withheld: the pool then
holds the pairs of their deeper lists that golden train does not (a pair is
never both golden and pooled).

A small collection runs with the splits it can make: each split takes what
there is under its cap, and the bundle's notes say how the splits were made
(test queries lent to train, a pool from train queries), for the report. Fewer
than ``data.min_test_queries`` golden test queries with a relevant document is
too few to measure anything on: the source stops, naming the collection and
the shortfall.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stillroom import hookimpl
from stillroom.data import GOLDEN_SPLITS, DataBundle, DataSourceSpec, FirstStage, Pair
from stillroom.errors import StillroomError
from stillroom.plugins.data.splits import assign_splits, seeded_subset
from stillroom.policy import Policy
from stillroom.reading import data_error, field, jsonl_objects, tsv_rows
from stillroom.retrieval import Bm25Index

NAME = "beir"
log = logging.getLogger(__name__)
QRELS_HEADER = ("query-id", "corpus-id", "score")
SPLIT_CAPS = {"train": "max_train_queries", "dev": "max_dev_queries", "test": "max_test_queries", "pool": "max_pool_queries"}


def read_corpus(path: Path) -> tuple[dict[str, dict[str, str]], set[str]]:
    """Documents by id (``title``, which may be empty, and ``text``), and the ids of the empty ones.

    A document with neither title nor text is left out, with a warning: real collections carry a few (Cranfield's
    471 and 995 are blank), and no model can rank nothing. A corpus of nothing else is refused.
    """
    corpus: dict[str, dict[str, str]] = {}
    empty: dict[str, int] = {}
    for line, row in jsonl_objects(path):
        doc_id = str(field(row, "_id", (str, int), path, line))
        title = row.get("title") or ""
        text = row.get("text") or ""
        if not isinstance(title, str) or not isinstance(text, str):
            raise data_error(path, line, "fields 'title' and 'text' must be strings")
        if doc_id in corpus or doc_id in empty:
            raise data_error(path, line, f"document id {doc_id!r} appears twice")
        if title.strip() or text.strip():
            corpus[doc_id] = {"title": title.strip(), "text": text.strip()}
        else:
            empty[doc_id] = line
    if empty:
        doc_id, line = next(iter(empty.items()))
        if not corpus:
            raise data_error(path, line, f"document {doc_id!r} has neither title nor text, and no document has either")
        log.warning(
            "%s: %d documents have neither title nor text (the first at line %d, %r); they are left out, and so are their judgments",
            path,
            len(empty),
            line,
            doc_id,
        )
    return corpus, set(empty)


def read_queries(path: Path, known: Mapping[str, str] | None = None) -> dict[str, str]:
    """Queries by id. An id appears once, and is none of ``known``: a query log's ids are not the collection's."""
    queries: dict[str, str] = {}
    for line, row in jsonl_objects(path):
        query_id = str(field(row, "_id", (str, int), path, line))
        if query_id in queries or query_id in (known or {}):
            raise data_error(
                path, line, f"query id {query_id!r} appears twice" + (" (in queries.jsonl and here)" if query_id in (known or {}) else "")
            )
        queries[query_id] = field(row, "text", str, path, line).strip()
    return queries


MAX_DANGLING_SHARE = 0.01
"""Of a qrels file's rows, the share that may name a document the corpus lacks (skipped, with a warning) before
the file is taken for another collection's: public collections carry a few (BEIR's ArguAna, 5 of 1,406)."""


def read_qrels(path: Path, queries: Mapping[str, str], corpus: Mapping[str, Any], empty: Set[str] = frozenset()) -> dict[str, dict[str, int]]:
    """Judgments by query, then document: the score of each judged pair (none of the ``empty`` documents)."""
    qrels: dict[str, dict[str, int]] = {}
    dangling: list[tuple[int, str]] = []
    rows = 0
    for line, (query_id, doc_id, score) in tsv_rows(path, QRELS_HEADER):
        rows += 1
        if query_id not in queries:
            raise data_error(path, line, f"query-id {query_id!r} is not in queries.jsonl")
        if doc_id in empty:
            continue
        if doc_id not in corpus:
            dangling.append((line, doc_id))
            continue
        try:
            qrels.setdefault(query_id, {})[doc_id] = int(score)
        except ValueError:
            raise data_error(path, line, f"score must be an integer, got {score!r}") from None
    if dangling:
        line, doc_id = dangling[0]
        if len(dangling) > MAX_DANGLING_SHARE * rows:
            raise data_error(path, line, f"corpus-id {doc_id!r} is not in corpus.jsonl ({len(dangling)} of {rows} rows name a missing document)")
        log.warning(
            "%s: %d of %d rows name a document corpus.jsonl lacks (the first at line %d, %r); they are skipped",
            path,
            len(dangling),
            rows,
            line,
            doc_id,
        )
    return qrels


def document_text(doc: Mapping[str, str]) -> str:
    return f"{doc['title']}. {doc['text']}" if doc["title"] and doc["text"] else doc["title"] or doc["text"]


@dataclass(frozen=True)
class Judged:
    """A collection as read, before any split is made: documents, queries and each golden split's judgments."""

    name: str
    """The collection's name in messages (its folder's, or its ir_datasets id)."""
    where: str
    """Where a message about it points (the folder, or ``data.id``)."""
    corpus: dict[str, dict[str, str]]
    """Documents by id: ``title`` and ``text``."""
    queries: dict[str, str]
    """Query texts by id."""
    qrels: dict[str, dict[str, dict[str, int]]]
    """By golden split the collection judges (``test`` at least), each query's judged documents and their scores."""
    notes: tuple[str, ...] = ()
    """What reading left out, for the report."""


def read_folder(folder: Path) -> Judged:
    """A BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/SPLIT.tsv``), read and checked."""
    if not folder.is_dir():
        raise StillroomError("expected the folder of a BEIR collection (corpus.jsonl, queries.jsonl, qrels/)", where=str(folder))
    corpus, empty = read_corpus(folder / "corpus.jsonl")
    notes = [f"{len(empty)} documents of corpus.jsonl have neither title nor text: they and their judgments are left out."] if empty else []
    queries = read_queries(folder / "queries.jsonl")
    qrels_dir = folder / "qrels"
    qrels = {
        split: read_qrels(qrels_dir / f"{split}.tsv", queries, corpus, empty)
        for split in GOLDEN_SPLITS
        if split == "test" or (qrels_dir / f"{split}.tsv").exists()
    }
    return Judged(folder.name, str(folder), corpus, queries, qrels, tuple(notes))


class BeirCollection:
    """A collection read and checked (a BEIR folder, an ir_datasets id), turned into the golden splits and the pool."""

    def __init__(self, judged: Judged, data_config: Mapping[str, Any], policy: Policy, seed: int) -> None:
        self.name, self.where = judged.name, judged.where
        self.config = data_config
        self.policy = policy
        self.seed = seed
        self.notes: list[str] = list(judged.notes)
        self.corpus, self.queries, self.qrels = judged.corpus, judged.queries, dict(judged.qrels)
        if "train" not in self.qrels:  # many BEIR collections (arguana, scidocs, trec-covid) judge test queries only
            share = float(data_config.get("train_share_of_test", 0.5))
            self.carve("test", {"train": share, "test": 1.0})
            lent = f"{len(self.qrels['train'])} of its {len(self.qrels['train']) + len(self.qrels['test'])} test queries"
            log.warning("%s judges no train queries: %s became golden train and dev", self.where, lent)
            self.notes.append(f"The collection judges test queries only: {lent} (data.train_share_of_test) became golden train and dev.")
        if "dev" not in self.qrels:
            self.carve("train", {"train": 1 - float(data_config.get("dev_share", 0.2)), "dev": 1.0})
            self.notes.append(f"Golden dev is {len(self.qrels['dev'])} of the train queries (data.dev_share): the collection judges no dev queries.")
        query_log = data_config.get("query_log")
        self.logged = read_queries(Path(str(query_log)).expanduser(), self.queries) if query_log else {}
        label_map = data_config.get("label_map") or {}
        self.label_map = {int(score): int(label) for score, label in label_map.items()}
        self.with_missed = list(data_config.get("add_missed_judged", []) or ())
        if not set(self.with_missed) <= set(GOLDEN_SPLITS):
            raise StillroomError(
                f"expected a list of golden splits ({', '.join(GOLDEN_SPLITS)}), got {self.with_missed}", where="data.add_missed_judged"
            )

    def carve(self, source: str, shares: Mapping[str, float]) -> None:
        """Split the queries of one qrels split into several, whole queries by a seeded shuffle."""
        judged = self.qrels.pop(source)
        assigned = assign_splits(judged, shares, self.seed)
        self.qrels.update({split: {q: docs for q, docs in judged.items() if assigned[q] == split} for split in shares})

    def label(self, score: int) -> int:
        return self.label_map.get(score, max(0, min(score, self.policy.max_label)))

    def split_queries(self) -> dict[str, list[str]]:
        """Query ids per golden split and the pool, each capped at ``data.max_*_queries`` (see the module doc for the pool)."""
        chosen = {split: seeded_subset(list(qrels), self.config.get(SPLIT_CAPS[split]), self.seed) for split, qrels in self.qrels.items()}
        kept_apart = {q for split in ("dev", "test") for q in self.qrels[split]} | set(chosen["train"])
        spare = [q for q in [*self.queries, *self.logged] if q not in kept_apart]
        if not spare:
            self.notes.append(
                "No query is left unjudged or unused, so the pool is golden train's queries, labels withheld: the pairs of their "
                "deeper lists (data.pool_first_stage_k) that golden train does not hold. A query log (data.query_log) would add more."
            )
        return {**chosen, "pool": seeded_subset(spare or chosen["train"], self.config.get(SPLIT_CAPS["pool"]), self.seed)}

    def query_text(self, query_id: str) -> str:
        return self.queries[query_id] if query_id in self.queries else self.logged[query_id]

    def bundle(self) -> DataBundle:
        chosen = self.split_queries()
        doc_ids = list(self.corpus)
        first_stage = Bm25Index([document_text(self.corpus[d]) for d in doc_ids])
        k = int(self.config.get("first_stage_k", 20))
        depth = {split: k for split in GOLDEN_SPLITS} | {"pool": int(self.config.get("pool_first_stage_k") or k)}
        pairs: dict[str, list[Pair]] = {}
        golden: set[str] = set()
        recalls: list[float] = []
        for split, query_ids in chosen.items():  # the pool last: it skips every golden pair
            judged = self.qrels.get(split, {}) if split != "pool" else {}
            pairs[split] = []
            hits = first_stage.top_scored([self.query_text(q) for q in query_ids], depth[split] + 1)
            for query_id, top in zip(query_ids, hits, strict=True):
                scores = judged.get(query_id, {})
                retrieved = {doc_ids[i]: score for i, score in top if doc_ids[i] != query_id}
                retrieved = dict(list(retrieved.items())[: depth[split]])
                if split == "test":
                    recalls += self.recall(scores, list(retrieved))
                # Judged documents the first stage missed join with no score of its own: it did not choose them, and the
                # request's scores are normalised over what it chose, as serving's are.
                missed = self.judged_beyond(scores, list(retrieved)) if split in self.with_missed else []
                listed: dict[str, float | None] = {**retrieved, **dict.fromkeys(missed)}
                for doc_id, first_stage_score in listed.items():
                    label = None if split == "pool" else self.label(scores.get(doc_id, 0))
                    pair = self.pair(query_id, doc_id, label, first_stage_score)
                    if split != "pool":
                        golden.add(pair.pair_id)
                    elif pair.pair_id in golden:
                        continue
                    pairs[split].append(pair)
        self.check_sizes(pairs, len(recalls))
        recall = sum(recalls) / len(recalls) if recalls else 0.0
        return DataBundle(
            golden={split: pairs[split] for split in GOLDEN_SPLITS},
            pool=pairs["pool"],
            first_stage=FirstStage("bm25", k, recall),
            notes=tuple(self.notes),
        )

    def check_sizes(self, pairs: Mapping[str, list[Pair]], measurable: int) -> None:
        """Stop on a collection too small to measure on or learn from, naming it and what it lacks.

        ``measurable`` counts the golden test queries with a relevant document: a query without one has no NDCG.
        """
        wanted = int(self.config.get("min_test_queries", 1))
        name = self.name
        if measurable < wanted:
            raise StillroomError(
                f"collection {name!r} leaves {measurable} golden test queries with a relevant document, under the {wanted} a test "
                f"needs (data.min_test_queries); it judges {sum(len(q) for q in self.qrels.values())} queries in all. Add judged "
                "queries, or lower data.train_share_of_test when the collection judges test queries only",
                where=self.where,
            )
        if not pairs["train"]:
            shortfall = f"collection {name!r} leaves no golden train query (data.max_train_queries, data.train_share_of_test)"
            raise StillroomError(shortfall, where=self.where)
        if not pairs["pool"]:
            raise StillroomError(
                f"collection {name!r} leaves no pool to distill from: every query is golden and their lists hold no pair beyond "
                "golden's. Give unlabeled queries (data.query_log) or reach deeper (data.pool_first_stage_k above data.first_stage_k)",
                where=self.where,
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

    def pair(self, query_id: str, doc_id: str, label: int | None, first_stage_score: float | None) -> Pair:
        doc = self.corpus[doc_id]
        query = self.query_text(query_id)
        return Pair(
            pair_id=f"{query_id}:{doc_id}",
            request_id=query_id,
            candidate_id=doc_id,
            request_text=query,
            candidate_text=document_text(doc),
            request={"text": query},
            candidate={"title": doc["title"], "text": doc["text"]},
            label=label,
            first_stage_score=first_stage_score,
        )


def read(product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> DataBundle:
    folder = Path(str(data_config["path"])).expanduser()
    return BeirCollection(read_folder(folder), data_config, policy, int(data_config.get("seed", seed))).bundle()


@hookimpl
def stillroom_data_sources() -> list[DataSourceSpec]:
    return [DataSourceSpec(NAME, read, description="a BEIR collection folder: corpus, queries and qrels, candidates from BM25")]
