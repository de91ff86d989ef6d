"""data=ir_datasets: a collection by its ir_datasets id, read offline from ir_datasets' local copy.

The local copy here is BEIR's own archive of a made-up collection, where ir_datasets keeps ``beir/scifact``'s
(``IR_DATASETS_HOME/beir/scifact/source.zip``): ir_datasets reads it as it would the real one."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from stillroom.errors import StillroomError
from tests.data_fixtures import write_beir


@pytest.fixture(scope="module")
def ir_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's IR_DATASETS_HOME (tests/conftest.py sets it before ir_datasets loads) with a local copy of a
    made-up beir/scifact."""
    home = Path(os.environ["IR_DATASETS_HOME"])
    folder = write_beir(tmp_path_factory.mktemp("scifact"), {"train": ["q-spark", "q-nurse", "q-bread", "q-chess"], "test": ["q-spark2", "q-nurse2"]})
    archive = home / "beir" / "scifact" / "source.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in folder.rglob("*"):
            if path.is_file():
                zipped.write(path, f"scifact/{path.relative_to(folder)}")
    return home


def test_an_id_or_a_subset_of_it_reads_the_collection_and_every_judged_subset(ir_home: Path) -> None:
    from stillroom.plugins.data.ir_datasets_source import judged

    for dataset_id in ("beir/scifact", "beir/scifact/test"):
        collection = judged(dataset_id)
        assert len(collection.corpus) == 12 and {"title", "text"} <= set(next(iter(collection.corpus.values())))
        assert set(collection.qrels) == {"train", "test"} and set(collection.qrels["test"]) == {"q-spark2", "q-nurse2"}
        assert collection.qrels["train"]["q-spark"] == {"spark-0": 2, "spark-1": 1}


def test_a_collection_without_a_local_copy_names_the_file_and_downloads_nothing(ir_home: Path) -> None:
    from stillroom.plugins.data.ir_datasets_source import judged

    with pytest.raises(StillroomError) as error:
        judged("beir/nfcorpus")
    said = str(error.value)
    assert said.startswith("data.id (beir/nfcorpus): ir_datasets has no local copy of https://")
    assert f"put the file at {ir_home / 'beir' / 'nfcorpus' / 'source.zip'}" in said and "nothing is downloaded at run time" in said
    assert not (ir_home / "beir" / "nfcorpus" / "source.zip").exists()


def test_an_unknown_id_is_answered_with_the_nearest_one(ir_home: Path) -> None:
    from stillroom.plugins.data.ir_datasets_source import judged

    with pytest.raises(StillroomError, match=r"ir_datasets has no dataset 'beir/scifacts' \(did you mean 'beir/scifact'\?\)"):
        judged("beir/scifacts")


@pytest.mark.slow
def test_a_run_names_its_collection_by_id_and_works_offline(ir_home: Path, tmp_path: Path) -> None:
    from stillroom.recipe.job import run_job
    from tests.helpers import compose_config

    run_dir = tmp_path / "run"
    overrides = ("experiment=smoke", "data=ir_datasets", "data.id=beir/scifact/test", "data.first_stage_k=4", "data.min_test_queries=1")
    report = run_job(compose_config(*overrides), run_dir)
    assert {"teacher", "student", "bm25", "zero_shot", "hybrid"} <= set(report["models"])
    test_queries = {json.loads(line)["request_id"] for line in (run_dir / "prepare" / "test.jsonl").read_text().splitlines()}
    assert test_queries == {"q-spark2", "q-nurse2"}
