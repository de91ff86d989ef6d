"""Data-source plugins for files teams already have: JSONL pairs and BEIR collections, read with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillroom.data import DataBundle, read_data_source
from stillroom.errors import StillroomError
from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy.source import load_policy
from tests.data_fixtures import QUERIES, write_beir, write_jsonl, write_mind, write_small_beir

POLICY = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())


def _source(**data_config) -> DataBundle:
    return read_data_source(get_plugin_manager(), "any", data_config, POLICY, 3)


def _pair_row(request_id: str, candidate_id: str, **extra) -> dict:
    texts = {"request_text": f"member {request_id}", "candidate_text": f"job {candidate_id}"}
    return {"request_id": request_id, "candidate_id": candidate_id, **texts, **extra}


# -- jsonl -----------------------------------------------------------------------------


def test_jsonl_sorts_labeled_requests_into_golden_splits_and_unlabeled_pairs_into_the_pool(tmp_path: Path) -> None:
    rows = [_pair_row(f"m{m}", f"j{j}", label=(m + j) % 4) for m in range(20) for j in range(3)]
    rows += [_pair_row(f"p{m}", f"j{j}") for m in range(5) for j in range(3)]
    rows += [_pair_row("fixed", "j0", label=1, split="test", request={"city": "Paris"}, engagement={"viewed": True})]
    bundle = _source(name="jsonl", path=str(write_jsonl(tmp_path / "pairs.jsonl", rows)), dev_share=0.15, test_share=0.25)
    requests = {split: {p.request_id for p in pairs} for split, pairs in bundle.splits().items()}
    assert len(requests["train"]) == 12 and len(requests["dev"]) == 3 and len(requests["test"]) == 6  # 5 drawn, plus "fixed"
    assert not requests["train"] & requests["dev"] and not requests["train"] & requests["test"] and not requests["dev"] & requests["test"]
    assert len(bundle.pool) == 15 and all(p.label is None for p in bundle.pool)
    fixed = next(p for p in bundle.golden["test"] if p.request_id == "fixed")
    assert fixed.request == {"city": "Paris"} and fixed.pair_id == "fixed:j0"
    assert bundle.engagement == [{"request_id": "fixed", "candidate_id": "j0", "viewed": True}]


BAD_JSONL = [
    ('{"request_id": "m1"', 1, "not valid JSON"),
    ("[1, 2]", 1, "expected a JSON object"),
    ({"candidate_id": "j", "request_text": "a", "candidate_text": "b"}, 1, "missing field 'request_id'"),
    ({**_pair_row("m", "j"), "request_text": "   "}, 1, "field 'request_text' is empty"),
    ({**_pair_row("m", "j"), "candidate_text": 5}, 1, "field 'candidate_text' must be str"),
    ({**_pair_row("m", "j"), "label": "2"}, 1, "field 'label' must be int"),
    ({**_pair_row("m", "j"), "label": True}, 1, "field 'label' must be int"),
    ({**_pair_row("m", "j"), "label": 7}, 1, r"label 7 is off the policy's scale \(0 to 3\)"),
    ({**_pair_row("m", "j"), "split": "holdout"}, 1, "split must be one of train, dev, test, pool"),
    ({**_pair_row("m", "j"), "split": "pool", "label": 1}, 1, "a pool pair carries no label"),
    ({**_pair_row("m", "j"), "split": "test"}, 1, "a test pair needs a label"),
    ({**_pair_row("m", "j"), "request": ["remote"]}, 1, "field 'request' must be dict"),
    ({**_pair_row("m", "j"), "engagement": {"viewed": "yes"}}, 1, "engagement event 'viewed' must be true or false"),
    ({**_pair_row("m", "j"), "first_stage_score": "12.5"}, 1, "field 'first_stage_score' must be int or float"),
    ({**_pair_row("m", "j"), "first_stage_score": True}, 1, "field 'first_stage_score' must be int or float, got bool True"),
]


def test_a_jsonl_pair_may_carry_its_first_stage_score(tmp_path: Path) -> None:
    rows = [_pair_row(f"m{m}", f"j{j}", label=j % 4, first_stage_score=10.0 - j) for m in range(6) for j in range(3)]
    rows.append(_pair_row("m9", "j1"))  # no score: None
    bundle = _source(name="jsonl", path=str(write_jsonl(tmp_path / "pairs.jsonl", rows)), dev_share=0.2, test_share=0.3)
    scored = {p.pair_id: p.first_stage_score for split in bundle.splits().values() for p in split}
    assert scored["m0:j2"] == 8.0 and scored["m9:j1"] is None


@pytest.mark.parametrize(("row", "line", "message"), BAD_JSONL)
def test_a_bad_jsonl_line_is_named_by_file_and_line(tmp_path: Path, row, line: int, message: str) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text((row if isinstance(row, str) else json.dumps(row)) + "\n", encoding="utf-8")
    with pytest.raises(StillroomError, match=message) as caught:
        _source(name="jsonl", path=str(path))
    assert caught.value.where == f"{path}:{line}"


def test_jsonl_file_problems_name_the_file_and_the_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [_pair_row("m", "j", label=1), _pair_row("m2", "j", label=1), _pair_row("m", "j", label=2)])
    with pytest.raises(StillroomError, match=r"pair 'm:j' appears twice \(first on line 1\)") as caught:
        _source(name="jsonl", path=str(path))
    assert caught.value.where == f"{path}:3"
    path.write_bytes(b'{"request_id": "m"}\n{"request_id": "caf\xe9"}\n')
    with pytest.raises(StillroomError, match="not UTF-8") as caught:
        _source(name="jsonl", path=str(path))
    assert caught.value.where == f"{path}:2"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(StillroomError, match="the file is empty"):
        _source(name="jsonl", path=str(path))
    with pytest.raises(StillroomError, match="no such file"):
        _source(name="jsonl", path=str(tmp_path / "missing.jsonl"))


# -- beir ------------------------------------------------------------------------------


def _beir(folder: Path, **overrides) -> DataBundle:
    return _source(**{"name": "beir", "path": str(folder), "first_stage_k": 3, "dev_share": 0.25, **overrides})


def test_beir_test_candidates_are_the_first_stage_top_k_and_nothing_else(tmp_path: Path) -> None:
    served = _beir(write_beir(tmp_path / "served"), first_stage_k=1).golden  # by default every golden list is as served
    assert all(sum(p.request_id == q for p in pairs) == 1 for pairs in served.values() for q in {p.request_id for p in pairs})
    bundle = _beir(write_beir(tmp_path / "beir"), first_stage_k=1, add_missed_judged=["train"])
    test = bundle.golden["test"]
    assert sorted(p.request_id for p in test) == ["q-nurse2", "q-spark2"]  # one candidate each: BM25's top 1, as production sees it
    assert all(p.label == 0 for p in test if not p.candidate_id.startswith(QUERIES[p.request_id][1]))  # unjudged: not relevant
    train = bundle.golden["train"]
    for query in {p.request_id for p in train}:  # train queries also get the judged documents BM25 missed
        labels = {p.candidate_id: p.label for p in train if p.request_id == query}
        topic = QUERIES[query][1]
        assert labels[f"{topic}-0"] == 2 and labels[f"{topic}-1"] == 1
    spark = next(p for p in _beir(write_beir(tmp_path / "beir")).golden["test"] if p.candidate_id == "spark-0")
    assert spark.candidate == {"title": "Apache Spark tuning for large joins", "text": "Apache Spark tuning for large joins"}
    assert spark.request == {"text": QUERIES["q-spark2"][0]}


def test_every_beir_pair_the_first_stage_chose_carries_bm25_s_score_and_a_judged_document_it_missed_carries_none(tmp_path: Path) -> None:
    from stillroom.retrieval import Bm25Index
    from tests.data_fixtures import TOPICS

    bundle = _beir(write_beir(tmp_path / "beir"), first_stage_k=1, add_missed_judged=["train"])
    documents = [(f"{topic}-{i}", f"{title}. {title}") for topic, titles in TOPICS.items() for i, title in enumerate(titles)]
    index = Bm25Index([text for _, text in documents])
    missed = 0
    for split, pairs in bundle.splits().items():
        for query in {p.request_id for p in pairs}:
            listed = [p for p in pairs if p.request_id == query]
            chosen = listed[:1] if split == "train" else listed  # train lists: BM25's top 1, then the judged documents it missed
            for pair in chosen:
                expected = index.scores(pair.request_text)[[doc for doc, _ in documents].index(pair.candidate_id)]
                assert pair.first_stage_score == pytest.approx(float(expected), rel=1e-5), (split, pair.pair_id)
            assert len(chosen) == 1 or split == "pool"
            assert all(p.first_stage_score is None and p.label > 0 for p in listed[len(chosen) :])
            missed += len(listed) - len(chosen)
    assert missed > 0
    pool = _beir(write_beir(tmp_path / "beir2"), first_stage_k=1, pool_first_stage_k=3).pool
    for query in {p.request_id for p in pool}:  # the pool's lists reach deeper, best first
        scores = [p.first_stage_score for p in pool if p.request_id == query]
        assert None not in scores and scores == sorted(scores, reverse=True)


def test_beir_records_the_first_stage_recall_and_can_add_missed_judged_documents_to_test_for_analysis(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "beir")
    production = _beir(folder, first_stage_k=1)
    inflated = _beir(folder, first_stage_k=1, add_missed_judged=["train", "test"])
    relevant = {(p.request_id, p.candidate_id) for p in inflated.golden["test"] if p.label >= POLICY.relevant_label}
    found = {(p.request_id, p.candidate_id) for p in production.golden["test"]} & relevant
    queries = {query for query, _ in relevant}
    by_hand = sum(sum(q == query for q, _ in found) / sum(q == query for q, _ in relevant) for query in queries) / len(queries)
    assert production.first_stage.name == "bm25" and production.first_stage.k == 1
    assert production.first_stage.recall == pytest.approx(by_hand) and by_hand < 1.0  # BM25's top 1 misses a relevant document
    assert len(inflated.golden["test"]) > len(production.golden["test"])  # the missed judged documents joined the test lists


def test_beir_refuses_an_unknown_split_for_missed_judged_documents(tmp_path: Path) -> None:
    with pytest.raises(StillroomError, match="expected a list of golden splits .train, dev, test.*holdout") as caught:
        _beir(write_beir(tmp_path / "beir"), add_missed_judged=["train", "holdout"])
    assert caught.value.where == "data.add_missed_judged"


def test_beir_carves_dev_from_train_and_pools_the_unjudged_queries(tmp_path: Path) -> None:
    bundle = _beir(write_beir(tmp_path / "beir"))
    train, dev = ({p.request_id for p in bundle.golden[split]} for split in ("train", "dev"))
    assert len(dev) == 1 and len(train) == 3 and not train & dev
    assert {p.request_id for p in bundle.pool} == {"q-open"} and all(p.label is None for p in bundle.pool)
    assert len(bundle.pool) == 3  # its first-stage top 3


def test_beir_without_unjudged_queries_lends_the_train_queries_to_the_pool_and_maps_labels(tmp_path: Path) -> None:
    train = ["q-spark", "q-nurse", "q-bread", "q-chess", "q-nurse2"]
    folder = write_beir(tmp_path / "beir", {"train": train, "test": ["q-spark2"]}, open_query=False)
    bundle = _beir(folder, label_map={1: 3, 2: 3}, max_train_queries=2)
    assert bundle.pool and {p.request_id for p in bundle.pool} <= set(train)
    assert len({p.request_id for p in bundle.golden["train"]}) == 2
    assert {p.label for p in bundle.golden["test"]} == {0, 3}


def test_the_beir_pool_reaches_deeper_over_the_queries_whose_judgments_the_run_leaves_unused(tmp_path: Path) -> None:
    train = ["q-spark", "q-nurse", "q-bread", "q-nurse2"]
    folder = write_beir(tmp_path / "beir", {"train": train, "dev": ["q-chess"], "test": ["q-spark2"]})
    bundle = _beir(folder, max_train_queries=2, first_stage_k=2, pool_first_stage_k=5)
    golden_train = {p.request_id for p in bundle.golden["train"]}
    pooled = {p.request_id for p in bundle.pool}
    # the unjudged query and the train queries golden train leaves; never a dev or test query, nor golden train's
    assert len(golden_train) == 2 and pooled == set(train) - golden_train | {"q-open"}
    assert all(sum(p.request_id == q for p in bundle.pool) == 5 for q in pooled)  # the deeper list
    assert all(len([p for p in bundle.golden["test"] if p.request_id == q]) == 2 for q in ["q-spark2"])


def test_a_query_log_joins_the_beir_pool_and_may_not_reuse_a_query_id(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "beir")
    log = write_jsonl(tmp_path / "log.jsonl", [{"_id": "log-1", "text": "rook endgame"}, {"_id": 7, "text": "starter feeding"}])
    bundle = _beir(folder, query_log=str(log))
    assert {p.request_id for p in bundle.pool} == {"q-open", "log-1", "7"}
    assert next(p for p in bundle.pool if p.request_id == "log-1").request_text == "rook endgame"
    clash = write_jsonl(tmp_path / "clash.jsonl", [{"_id": "log-1", "text": "x"}, {"_id": "q-chess", "text": "y"}])
    with pytest.raises(StillroomError, match="query id 'q-chess' appears twice \\(in queries.jsonl and here\\)") as excinfo:
        _beir(folder, query_log=str(clash))
    assert f"{clash}:2" in str(excinfo.value.where)


def test_a_beir_collection_judging_only_test_queries_lends_some_to_train_and_dev(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    every = ["q-spark", "q-nurse", "q-bread", "q-chess", "q-spark2", "q-nurse2"]
    bundle = _beir(write_beir(tmp_path / "beir", {"test": every}), train_share_of_test=0.5, dev_share=0.34)
    queries = {split: {p.request_id for p in pairs} for split, pairs in bundle.golden.items()}
    assert [len(queries[split]) for split in ("train", "dev", "test")] == [2, 1, 3]
    assert set().union(*queries.values()) == set(every)  # every judged query in exactly one split
    assert "judges no train queries: 3 of its 6 test queries became golden train and dev" in caplog.text


def test_judged_documents_beyond_the_first_stage_join_train_lists_best_first_up_to_the_cap(tmp_path: Path) -> None:
    capped = _beir(write_beir(tmp_path / "beir"), first_stage_k=1, max_judged_per_query=1, add_missed_judged=["train"])
    for query in {p.request_id for p in capped.golden["train"]}:
        listed = {p.candidate_id: p.label for p in capped.golden["train"] if p.request_id == query}
        assert len(listed) <= 2 and 2 in listed.values()  # BM25's top one, then the best judged document it missed
    none_added = _beir(write_beir(tmp_path / "beir2"), first_stage_k=1, max_judged_per_query=0, add_missed_judged=["train"])
    assert len(none_added.golden["train"]) == 3 < len(capped.golden["train"])  # the top one alone, for each of 3 train queries


def test_a_few_qrels_rows_naming_a_missing_document_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_beir(tmp_path / "beir")
    with (folder / "qrels" / "test.tsv").open("a", encoding="utf-8") as qrels:
        qrels.write("q-spark2\tnowhere-9\t1\n")
    monkeypatch.setattr("stillroom.plugins.data.beir.MAX_DANGLING_SHARE", 0.25)  # 1 of 5 rows; public collections carry under 1%
    bundle = _beir(folder)
    assert "1 of 5 rows name a document corpus.jsonl lacks (the first at line 6, 'nowhere-9'); they are skipped" in caplog.text
    assert {p.label for p in bundle.golden["test"] if p.request_id == "q-spark2"} >= {2}


def test_blank_documents_and_their_judgments_are_left_out_with_a_warning_and_a_note(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = write_beir(tmp_path / "beir")
    with (folder / "corpus.jsonl").open("a", encoding="utf-8") as corpus:
        corpus.write(json.dumps({"_id": "blank-1", "title": " ", "text": ""}) + "\n")
    with (folder / "qrels" / "test.tsv").open("a", encoding="utf-8") as qrels:
        qrels.write("q-spark2\tblank-1\t2\n")  # judged relevant, yet nothing to read
    bundle = _beir(folder)
    assert "1 documents have neither title nor text (the first at line 13, 'blank-1'); they are left out" in caplog.text
    pairs = [p for split in bundle.golden.values() for p in split] + list(bundle.pool)
    assert pairs and all(p.candidate_id != "blank-1" for p in pairs)
    assert any("1 documents of corpus.jsonl have neither title nor text" in note for note in bundle.notes)


def test_a_document_with_its_query_s_id_is_never_a_candidate(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "beir")
    corpus = (folder / "corpus.jsonl").read_text(encoding="utf-8")
    (folder / "corpus.jsonl").write_text(corpus + json.dumps({"_id": "q-spark2", "title": "", "text": "spark streaming partitions"}) + "\n")
    bundle = _beir(folder, first_stage_k=2)
    listed = [p.candidate_id for p in bundle.golden["test"] if p.request_id == "q-spark2"]
    assert len(listed) == 2 and "q-spark2" not in listed  # its own text would be BM25's first hit


def _test_qrels(*rows: str):
    return lambda folder: (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


HEADER = "query-id\tcorpus-id\tscore"
BAD_BEIR = [
    (_test_qrels(HEADER, "q-spark2\tnowhere-9\t1"), "qrels/test.tsv:2", "corpus-id 'nowhere-9' is not in corpus.jsonl"),
    (_test_qrels(HEADER, "q-ghost\tspark-0\t1"), "qrels/test.tsv:2", "query-id 'q-ghost' is not in queries.jsonl"),
    (_test_qrels("qid\tdocid\tscore"), "qrels/test.tsv:1", "expected the header row query-id / corpus-id / score"),
    (_test_qrels(HEADER, "q-spark2\tspark-0\thigh"), "qrels/test.tsv:2", "score must be an integer"),
    (_test_qrels(HEADER, "q-spark2\tspark-0"), "qrels/test.tsv:2", "expected 3 tab-separated columns"),
    (lambda folder: (folder / "qrels" / "test.tsv").unlink(), "qrels/test.tsv", "no such file"),
    (lambda folder: write_jsonl(folder / "corpus.jsonl", [{"_id": "d1", "title": "", "text": ""}]), "corpus.jsonl:1", "no document has either"),
    (lambda folder: write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "a"}] * 2), "queries.jsonl:2", "query id 'q1' appears twice"),
    (lambda folder: (folder / "corpus.jsonl").write_bytes(b'{"_id": "d", "text": "\xff"}\n'), "corpus.jsonl:1", "not UTF-8"),
]


@pytest.mark.parametrize(("damage", "where", "message"), BAD_BEIR)
def test_a_bad_beir_file_is_named_by_file_and_line(tmp_path: Path, damage, where: str, message: str) -> None:
    folder = write_beir(tmp_path / "beir")
    damage(folder)
    with pytest.raises(StillroomError, match=message) as caught:
        _beir(folder)
    assert caught.value.where == f"{folder}/{where}"


@pytest.mark.parametrize("train_share", [0.0, 0.6], ids=["test-qrels-only", "train-and-test-qrels"])
def test_a_small_collection_with_every_query_judged_runs_and_its_pool_never_repeats_a_golden_pair(tmp_path: Path, train_share: float) -> None:
    """60 queries, each judged in train or test: nothing is left for the pool but golden train's deeper lists."""
    folder = write_small_beir(tmp_path / "small", queries=60, train_share=train_share)
    bundle = _beir(folder, first_stage_k=5, pool_first_stage_k=12, min_test_queries=10)
    golden = {p.pair_id for split in ("train", "dev", "test") for p in bundle.golden[split]}
    train_queries = {p.request_id for p in bundle.golden["train"]}
    assert bundle.pool and not golden & {p.pair_id for p in bundle.pool}
    assert {p.request_id for p in bundle.pool} <= train_queries
    assert all(sum(p.request_id == q for p in bundle.pool) == 7 for q in {p.request_id for p in bundle.pool})  # 12 deep, 5 golden
    queries = {split: len({p.request_id for p in bundle.golden[split]}) for split in ("train", "dev", "test")}
    assert sum(queries.values()) == 60 and min(queries.values()) > 0
    notes = " ".join(bundle.notes)
    assert "the pool is golden train's queries, labels withheld" in notes
    assert ("30 of its 60 test queries" in notes) == (train_share == 0.0)


def test_a_collection_with_too_few_test_queries_is_refused_naming_it_and_the_shortfall(tmp_path: Path) -> None:
    folder = write_small_beir(tmp_path / "tiny-collection", queries=12)
    with pytest.raises(StillroomError, match="collection 'tiny-collection' leaves 6 golden test queries with a relevant document, under the 10"):
        _beir(folder, min_test_queries=10)
    with pytest.raises(StillroomError, match="leaves no pool to distill from") as excinfo:
        _beir(folder, first_stage_k=5, pool_first_stage_k=5, min_test_queries=1)
    assert excinfo.value.where == str(folder)


def test_a_missing_beir_folder_says_what_it_expected(tmp_path: Path) -> None:
    with pytest.raises(StillroomError, match="expected the folder of a BEIR collection"):
        _beir(tmp_path / "nowhere")


@pytest.mark.slow
def test_a_run_on_a_beir_collection_ranks_its_test_qrels_and_names_the_rules_it_cannot_check(tmp_path: Path) -> None:
    """The jobs policy on query-and-document data: the recipe runs, and its rules are reported as not applicable."""
    from stillroom.recipe.job import run_job
    from tests.helpers import compose_config

    folder = write_beir(tmp_path / "beir")
    run_dir = tmp_path / "run"
    run_job(compose_config("experiment=smoke", "data=beir", f"data.path={folder}", "data.first_stage_k=4", "data.min_test_queries=1"), run_dir)
    report = json.loads((run_dir / "report" / "report.json").read_text())
    assert {"teacher", "student", "bm25", "zero_shot", "hybrid"} <= set(report["models"])
    hybrid = report["models"]["hybrid"]
    assert hybrid["baseline"] and hybrid["fusion"]["method"] == "wsum" and len(hybrid["fusion"]["weights"]) == 2  # bm25 and zero_shot
    assert "teacher_base" not in report["models"]  # the tiny teacher has no pretrained base of its own
    versus = {c["b"] for c in report["comparisons"] if c["a"] == "student" and c["metric"] == report["primary_metric"]}
    assert {"bm25", "zero_shot", "hybrid"} <= versus
    test_queries = {json.loads(line)["request_id"] for line in (run_dir / "prepare" / "test.jsonl").read_text().splitlines()}
    assert test_queries == {"q-spark2", "q-nurse2"}
    markdown = (run_dir / "report" / "report.md").read_text()
    assert "Golden dev is 1 of the train queries (data.dev_share)" in markdown
    assert "Not applicable to this data" in markdown and "`remote-only-member` (reads candidate.workplace, request.remote_only)" in markdown
    assert report["compliance"]["checked"] is False and report["models"]["student"]["metrics"].get("violation_rate@10") is None
    assert "was **not checked**: the data lacks the fields every hard rule reads (remote-only-member reads candidate.workplace" in markdown.splitlines()[2]


# -- interactions (MIND) ------------------------------------------------------------------


def _golden(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "golden.jsonl", [_pair_row(f"m{m}", f"N{j}", label=(m + j) % 4) for m in range(8) for j in range(1, 4)])


def test_an_impressions_log_is_the_pool_and_the_engagement_log_beside_a_golden_file(tmp_path: Path) -> None:
    bundle = _source(name="interactions", path=str(write_mind(tmp_path / "mind")), golden=str(_golden(tmp_path)), history_items=5)
    assert [p.pair_id for p in bundle.pool] == ["1:N2", "1:N3", "1:N4", "2:N5", "2:N1", "3:N3"]
    first = bundle.pool[0]
    assert first.request_text == "Recently read: Late goal wins the derby; A five-set final at dawn"
    assert first.candidate_text == "Markets rally as rates hold | finance / markets"
    assert first.request == {"user_id": "U1", "history": ["Late goal wins the derby", "A five-set final at dawn"]}
    assert bundle.pool[-1].request_text == "No reading history"
    clicks = {(row["request_id"], row["candidate_id"]): row["clicked"] for row in bundle.engagement}
    assert clicks == {("1", "N2"): False, ("1", "N3"): False, ("1", "N4"): True, ("2", "N5"): True, ("2", "N1"): False, ("3", "N3"): True}
    assert sum(len(pairs) for pairs in bundle.golden.values()) == 24


@pytest.mark.parametrize(
    ("behavior", "message"),
    [
        ("1\tU1\ttime\tN1\tN2-2", "an impression is NEWSID-1 \\(clicked\\) or NEWSID-0 \\(shown\\), got 'N2-2'"),
        ("1\tU1\ttime\tN1\tN9-1", "news id 'N9' is not in news.tsv"),
        ("1\tU1\ttime\tN9\tN2-1", "history news id 'N9' is not in news.tsv"),
        ("1\tU1\ttime\tN1", "expected 5 tab-separated columns"),
        ("1\tU1\ttime\tN1\t ", "an impression shows at least one news item"),
        ("0\tU1\ttime\tN1\tN2-1", "impression id '0' appears twice"),
    ],
)
def test_a_bad_impression_is_named_by_file_and_line(tmp_path: Path, behavior: str, message: str) -> None:
    folder = write_mind(tmp_path / "mind", ["0\tU0\ttime\t\tN1-1", behavior])
    with pytest.raises(StillroomError, match=message) as caught:
        _source(name="interactions", path=str(folder), golden=str(_golden(tmp_path)))
    assert caught.value.where == f"{folder}/behaviors.tsv:2"


@pytest.mark.slow
def test_feed_runs_on_an_impressions_log_and_reports_the_rules_the_log_cannot_be_checked_against(tmp_path: Path) -> None:
    from stillroom.recipe.job import run_job
    from tests.helpers import compose_config

    folder, golden = write_mind(tmp_path / "mind"), _golden(tmp_path)
    run_dir = tmp_path / "run"
    run_job(compose_config("experiment=smoke", "product=feed", "data=interactions", f"data.path={folder}", f"data.golden={golden}"), run_dir)
    report = json.loads((run_dir / "report" / "report.json").read_text())
    assert report["product"] == "feed" and {"teacher", "student", "bm25"} <= set(report["models"])
    assert len((run_dir / "prepare" / "engagement.jsonl").read_text().splitlines()) == 6
    assert "`spam` (reads candidate.spam)" in (run_dir / "report" / "report.md").read_text()
