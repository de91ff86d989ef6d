"""Small files in the formats stillroom reads (BEIR, JSONL), written into a test's tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOPICS = {
    "spark": ["Apache Spark tuning for large joins", "Spark executors, partitions and shuffles explained", "Structured streaming with Spark"],
    "nursing": ["Night shifts in intensive care nursing", "Patient care plans for nurses", "Nursing licence requirements abroad"],
    "sourdough": ["Feeding a sourdough starter", "Shaping and proofing sourdough loaves", "Why sourdough bread rises slowly"],
    "chess": ["Opening principles for chess beginners", "Endgame technique with rook and pawn", "Chess tactics: forks and pins"],
}
QUERIES = {
    "q-spark": ("how do I tune spark joins and shuffles", "spark"),
    "q-nurse": ("nursing care plans for intensive care patients", "nursing"),
    "q-bread": ("sourdough starter feeding and proofing", "sourdough"),
    "q-chess": ("chess endgame technique with a rook", "chess"),
    "q-spark2": ("spark streaming partitions", "spark"),
    "q-nurse2": ("nurse night shifts", "nursing"),
    "q-open": ("bread and chess", None),  # judged by no qrels file: the pool
}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_beir(folder: Path, splits: dict[str, list[str]] | None = None, open_query: bool = True) -> Path:
    """A BEIR folder: 12 documents in 4 topics, the queries, qrels graded 2 (the topic's first document) and 1 (its second).

    With ``open_query``, queries.jsonl also holds a query that no qrels file judges.
    """
    splits = splits or {"train": ["q-spark", "q-nurse", "q-bread", "q-chess"], "test": ["q-spark2", "q-nurse2"]}
    corpus = [{"_id": f"{topic}-{i}", "title": title, "text": title} for topic, titles in TOPICS.items() for i, title in enumerate(titles)]
    write_jsonl(folder / "corpus.jsonl", corpus)
    queries = [{"_id": q, "text": text} for q, (text, topic) in QUERIES.items() if topic or open_query]
    write_jsonl(folder / "queries.jsonl", queries)
    for split, query_ids in splits.items():
        rows = ["query-id\tcorpus-id\tscore"]
        for q in query_ids:
            topic = QUERIES[q][1]
            rows += [f"{q}\t{topic}-0\t2", f"{q}\t{topic}-1\t1"]
        (folder / "qrels").mkdir(parents=True, exist_ok=True)
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def write_small_beir(folder: Path, queries: int, train_share: float = 0.0, docs_per_query: int = 4) -> Path:
    """A generated BEIR folder of ``queries`` queries, every one judged: the first ``train_share`` of them in
    qrels/train.tsv, the rest in qrels/test.tsv; each query's ``docs_per_query`` documents share its two words,
    the first judged 2. No query is left unjudged, so the pool has only golden queries to draw on."""
    words = [f"w{i}" for i in range(2 * queries)]
    corpus, query_rows, qrels = [], [], {"train": [], "test": []}
    trained = round(train_share * queries)
    for q in range(queries):
        topic = f"{words[2 * q]} {words[(2 * q + 3) % len(words)]}"
        query_rows.append({"_id": f"q{q}", "text": topic})
        for d in range(docs_per_query):
            corpus.append({"_id": f"d{q}-{d}", "title": "", "text": f"{topic} note {d} " + " ".join(words[(q + d) % len(words)] for _ in range(d))})
        qrels["train" if q < trained else "test"].append(f"q{q}\td{q}-0\t2")
    write_jsonl(folder / "corpus.jsonl", corpus)
    write_jsonl(folder / "queries.jsonl", query_rows)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    for split, rows in qrels.items():
        if rows:
            (folder / "qrels" / f"{split}.tsv").write_text("\n".join(["query-id\tcorpus-id\tscore", *rows]) + "\n", encoding="utf-8")
    return folder


NEWS = [
    ("N1", "sports", "football", "Late goal wins the derby"),
    ("N2", "finance", "markets", "Markets rally as rates hold"),
    ("N3", "health", "nutrition", "What a balanced breakfast looks like"),
    ("N4", "sports", "tennis", "A five-set final at dawn"),
    ("N5", "finance", "personal", "Saving for a first home"),
]


def write_mind(folder: Path, behaviors: list[str] | None = None) -> Path:
    """A MIND folder: five news items and three impressions (tab-separated, no header)."""
    folder.mkdir(parents=True, exist_ok=True)
    news = [f"{nid}\t{cat}\t{sub}\t{title}\tAbstract of {title.lower()}\thttps://example.org/{nid}\t[]\t[]" for nid, cat, sub, title in NEWS]
    (folder / "news.tsv").write_text("\n".join(news) + "\n", encoding="utf-8")
    behaviors = behaviors or [
        "1\tU1\t11/15/2019 8:55:22 AM\tN1 N4\tN2-0 N3-0 N4-1",
        "2\tU2\t11/15/2019 9:10:00 AM\tN2\tN5-1 N1-0",
        "3\tU1\t11/16/2019 7:00:00 AM\t\tN3-1",
    ]
    (folder / "behaviors.tsv").write_text("\n".join(behaviors) + "\n", encoding="utf-8")
    return folder
