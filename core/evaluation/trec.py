"""Rankings in the formats IR's own tools read: a TREC run file per model and the golden labels as TREC qrels.

trec_eval, ranx and ir_measures then recompute the report's figures from the files, without stillroom: a run
file holds each request's candidates in the order the model ranked them as served (``qid Q0 docid rank score
run``), with the scores the report ranked by, in full precision so that no two of them tie where they did not.
Where two do tie, the report and the file break the tie as trec_eval does (the candidate whose id sorts last
first: :func:`~stillroom.evaluation.evaluators.ranks_within_requests`), and the file lists them in that order,
which ranx keeps. The qrels hold every golden label of the split (``qid 0 docid label``), unjudged zeros
included, so that a request without a relevant candidate counts, as it does in the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from stillroom.data import Pair
from stillroom.evaluation.evaluators import ranks_within_requests

QRELS_FILE = "qrels.test.txt"
RUN_SUFFIX = ".run"


def qrels_lines(pairs: Iterable[Pair]) -> list[str]:
    """``request_id 0 candidate_id label`` for every labeled pair."""
    return [f"{pair.request_id} 0 {pair.candidate_id} {pair.label}" for pair in pairs if pair.label is not None]


def run_lines(pairs: Sequence[Pair], scores: Sequence[float], run_name: str) -> list[str]:
    """Each request's candidates in the report's order, ranked from 1, requests in the order they first come."""
    ranks = ranks_within_requests(pairs, scores)
    by_request: dict[str, list[int]] = {}
    for index, pair in enumerate(pairs):
        by_request.setdefault(pair.request_id, []).append(index)
    return [
        f"{request_id} Q0 {pairs[index].candidate_id} {ranks[index] + 1} {float(scores[index])!r} {run_name}"
        for request_id, indices in by_request.items()
        for index in sorted(indices, key=lambda i: ranks[i])
    ]


def write_trec_files(folder: Path, runs: Mapping[str, tuple[Sequence[Pair], Sequence[float]]]) -> None:
    """``folder/qrels.test.txt`` and ``folder/MODEL.run`` for each model's ranked ``(pairs, scores)``, the folder being
    made (not yet in place). The qrels are the labels of every pair a run lists: served with the policy's rules, a
    candidate a rule filters is listed by no model, and is in neither file."""
    folder.mkdir(parents=True, exist_ok=True)
    listed = {pair.pair_id: pair for pairs, _ in runs.values() for pair in pairs}
    (folder / QRELS_FILE).write_text("\n".join(qrels_lines(listed.values())) + "\n", encoding="utf-8")
    for name, (pairs, scores) in runs.items():
        (folder / f"{name}{RUN_SUFFIX}").write_text("\n".join(run_lines(pairs, scores, name)) + "\n", encoding="utf-8")
