"""Every model's test ranking as a TREC run file beside the qrels: IR's own tools recompute the report's figures."""

from __future__ import annotations

import json
from pathlib import Path

from stillroom.data import Pair
from stillroom.evaluation.trec import qrels_lines, run_lines


def test_run_lines_rank_each_request_by_score_in_full_precision() -> None:
    pairs = [Pair(f"p{i}", f"r{i // 3}", f"c{i}", "q", "d", label=i % 2) for i in range(5)]
    scores = [0.1, 0.7, 0.30000000000000004, 0.5, 0.5]
    assert run_lines(pairs, scores, "student") == [
        "r0 Q0 c1 1 0.7 student",
        "r0 Q0 c2 2 0.30000000000000004 student",
        "r0 Q0 c0 3 0.1 student",
        "r1 Q0 c4 1 0.5 student",  # a tie goes to the candidate whose id sorts last, as trec_eval breaks it
        "r1 Q0 c3 2 0.5 student",
    ]
    assert qrels_lines(pairs) == ["r0 0 c0 0", "r0 0 c1 1", "r0 0 c2 0", "r1 0 c3 1", "r1 0 c4 0"]


def test_ranx_reproduces_every_models_ndcg_from_the_run_files(smoke_run: Path) -> None:
    from ranx import Qrels, Run, evaluate

    report = json.loads((smoke_run / "report" / "report.json").read_text())
    folder = smoke_run / "evaluate" / "trec"
    qrels = Qrels.from_file(str(folder / "qrels.test.txt"), kind="trec")
    for name, model in report["models"].items():
        run = Run.from_file(str(folder / f"{name}.run"), kind="trec")
        assert round(float(evaluate(qrels, run, "ndcg@10")), 4) == round(model["metrics"]["ndcg@10"], 4), name
