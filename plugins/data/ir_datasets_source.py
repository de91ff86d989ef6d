"""``data=ir_datasets data.id=beir/nfcorpus``: a collection named by its ir_datasets id, read from ir_datasets'
local copy, and reranked exactly as a BEIR folder is (:mod:`stillroom.plugins.data.beir`).

IR people name collections by these ids (``beir/scifact``, ``beir/nfcorpus/test``, ``antique/test``). The id may
name the collection or one of its judged subsets: the source reads the collection's documents and queries and the
judgments of each of its ``train``, ``dev`` and ``test`` subsets that ir_datasets registers (a collection judged in
one subset only is golden test, and lends train and dev as BEIR's test-only collections do).

Offline always: ir_datasets keeps its files under ``IR_DATASETS_HOME`` (``~/.ir_datasets``) and downloads what is
missing; here, a file it does not have is an error that names the file and where to put it (a copy fetched on
another machine, or the collection's own archive: ``beir/nfcorpus`` reads ``IR_DATASETS_HOME/beir/nfcorpus/
source.zip``, BEIR's ``nfcorpus.zip``), and nothing is downloaded. ir_datasets is an optional dependency:
``pip install -c constraints.txt 'stillroom[ir]'``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from stillroom import hookimpl
from stillroom.data import GOLDEN_SPLITS, DataBundle, DataSourceSpec
from stillroom.errors import StillroomError, did_you_mean
from stillroom.plugins.data.beir import BeirCollection, Judged
from stillroom.policy import Policy

NAME = "ir_datasets"
INSTALL = "pip install -c constraints.txt 'stillroom[ir]'"


@contextmanager
def local_files_only(dataset_id: str) -> Iterator[None]:
    """ir_datasets reading only what is on disk: a file it would download stops the run, naming it and where it goes.

    ir_datasets has no offline switch; every file it fetches goes through ``Download.path``, which returns a local
    copy when there is one (its cache path, or a copy named by the file's md5 under ``IR_DATASETS_HOME/downloads``)
    and downloads otherwise. The guard lets the first through and refuses the second.
    """
    from ir_datasets.util import download

    original = download.Download.path

    def path(self: Any, force: bool = True) -> Any:
        local = [self._cache_path] if self._cache_path else []
        local += [mirror._path for mirror in self.mirrors if isinstance(mirror, download.LocalDownload)]
        if self._path is not None or not force or any(os.path.exists(p) for p in local if p):
            return original(self, force)
        url = next((m.url for m in self.mirrors if hasattr(m, "url")), "a file")
        place = f" at {self._cache_path}" if self._cache_path else ""
        raise StillroomError(
            f"ir_datasets has no local copy of {url}; nothing is downloaded at run time: put the file{place} "
            f"(IR_DATASETS_HOME, now {download.util.home_path()}) and run again",
            where=f"data.id ({dataset_id})",
        )

    download.Download.path = path
    try:
        yield
    finally:
        download.Download.path = original


def _load(dataset_id: str) -> Any:
    try:
        import ir_datasets
    except ImportError:
        raise StillroomError(f"data=ir_datasets needs the ir_datasets package; install it with `{INSTALL}`", where="data.name") from None
    logging.getLogger("ir_datasets").setLevel(logging.WARNING)
    if dataset_id not in ir_datasets.registry:
        known = [name for name in ir_datasets.registry if name.split("/")[0] == dataset_id.split("/")[0]]
        raise StillroomError(f"ir_datasets has no dataset {dataset_id!r}{did_you_mean(dataset_id, known)}", where="data.id")
    return ir_datasets


def judged(dataset_id: str) -> Judged:
    """The collection ``dataset_id`` names (or one of its subsets names), read from ir_datasets' local copy."""
    ir_datasets = _load(dataset_id)
    base = dataset_id.rsplit("/", 1)[0] if dataset_id.rsplit("/", 1)[-1] in GOLDEN_SPLITS else dataset_id
    subsets = {split: f"{base}/{split}" for split in GOLDEN_SPLITS if f"{base}/{split}" in ir_datasets.registry}
    if not subsets:
        subsets = {"test": base}
    with local_files_only(dataset_id):
        collection = ir_datasets.load(base if base in ir_datasets.registry else next(iter(subsets.values())))
        if not collection.has_docs() or not collection.has_queries():
            raise StillroomError(f"ir_datasets dataset {base!r} has no documents or no queries to rerank", where="data.id")
        corpus = {doc.doc_id: {"title": getattr(doc, "title", "") or "", "text": _text(doc)} for doc in collection.docs_iter()}
        queries = {query.query_id: _text(query) for query in collection.queries_iter()}
        qrels: dict[str, dict[str, dict[str, int]]] = {}
        for split, subset in subsets.items():
            judged_split = ir_datasets.load(subset)
            if not judged_split.has_qrels():
                continue
            for qrel in judged_split.qrels_iter():
                if qrel.query_id in queries and qrel.doc_id in corpus:
                    qrels.setdefault(split, {}).setdefault(qrel.query_id, {})[qrel.doc_id] = int(qrel.relevance)
    if "test" not in qrels:
        raise StillroomError(f"ir_datasets dataset {dataset_id!r} judges no test queries ({', '.join(subsets.values())})", where="data.id")
    return Judged(dataset_id, f"data.id ({dataset_id})", corpus, queries, qrels)


def _text(record: Any) -> str:
    """A document's or query's text: its ``text`` field, else what ir_datasets calls its default text."""
    text = getattr(record, "text", None)
    return (text if isinstance(text, str) else record.default_text()).strip()


def read(product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> DataBundle:
    dataset_id = str(data_config.get("id") or "")
    if not dataset_id:
        raise StillroomError("name the collection by its ir_datasets id: data.id=beir/nfcorpus", where="data.id")
    return BeirCollection(judged(dataset_id), data_config, policy, int(data_config.get("seed", seed))).bundle()


@hookimpl
def stillroom_data_sources() -> list[DataSourceSpec]:
    return [DataSourceSpec(NAME, read, description="a collection by its ir_datasets id, from ir_datasets' local copy, candidates from BM25")]
