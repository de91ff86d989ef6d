"""The benchmark scripts run and print their tables (on tiny models here; the figures in docs/benchmarks.md come from the real ones)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.data_fixtures import write_beir

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_overhead_prints_both_loops_and_their_ratio() -> None:
    out = _run("overhead.py", "--pairs", "64", "--rounds", "1", "experiment=smoke")
    assert "| bare |" in out and "| stillroom |" in out
    assert "of the bare loop's throughput" in out


def test_distill_prints_one_row_per_student_against_the_teacher(tmp_path: Path) -> None:
    out = _run("distill.py", "--out", str(tmp_path), "--students", "tiny+prune", "experiment=smoke", "prune.keep_layers=1")
    table = out.split("| model | params | pairs/s | ndcg@10 | retained | speedup |")[-1]  # each run prints its own report before
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows] == ["| teacher", "| tiny+prune"]
    assert rows[0].endswith("| 100.0% | 1.0x |")
    assert (tmp_path / "tiny+prune" / "prune" / "pruning.json").exists()


def test_serve_prints_pairs_per_second_of_each_model_at_each_batch_size() -> None:
    out = _run("serve.py", "--pairs", "8", "--rounds", "1", "--batch-sizes", "1,4", "experiment=smoke")
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert [row.split(" | ")[0][2:] for row in rows] == ["teacher (torch)", "student (torch)", "student (onnxruntime)"]
    assert all(float(cell.replace(",", "")) > 0 for row in rows for cell in row.strip("| ").split(" | ")[1:])


def test_real_data_prints_a_row_per_collection_records_a_failed_one_and_reads_the_bars(tmp_path: Path) -> None:
    from tests.data_fixtures import write_small_beir

    write_beir(tmp_path / "collections" / "tiny")
    write_small_beir(tmp_path / "collections" / "too-small", queries=8)  # four test queries, under data.min_test_queries
    overrides = ["experiment=smoke", "data.first_stage_k=4", "data.min_test_queries=1"]  # the fixture tests on two queries
    manifest = {
        "collections": {
            "too-small": {"overrides": ["experiment=smoke"], "source": "tests.", "licence": "none."},
            "tiny": {"overrides": overrides, "source": "tests.", "licence": "none."},
        }
    }
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    out = _run(
        "real_data.py", "--collections", str(tmp_path / "collections"), "--out", str(tmp_path / "out"), "--manifest", str(tmp_path / "manifest.yaml")
    )
    assert "| too-small | failed: exit 2: stillroom: error:" in out and "leaves 4 golden test queries" in out
    row = next(line for line in out.splitlines() if line.startswith("| tiny |"))
    cells = row.strip("| ").split(" | ")
    assert len(cells) == 18 and cells[1].endswith("/2")  # two test queries
    figures, differences = cells[3:10], cells[10:15]
    assert figures[3] == "—"  # no teacher_base: the tiny teacher has no pretrained base of its own
    assert all(cell.count("[") == 1 for cell in figures[:3] + figures[4:] + differences)  # with their intervals
    assert all(any(verdict in cell for verdict in ("better", "worse", "not resolved")) for cell in differences)
    assert cells[16] in ("ship", "do not ship")
    written = (tmp_path / "out" / "real_data.md").read_text(encoding="utf-8")
    assert "at commit" in written and "**tiny**: tests." in written
    assert "- DOES NOT HOLD: every collection runs to its report" in written
    assert "the student beats hybrid, resolved, on at least two where the verdict ships" in written


def test_pool_curve_prints_a_row_per_pool_size(tmp_path: Path) -> None:
    write_beir(tmp_path / "collections" / "tiny", {"train": ["q-spark", "q-nurse", "q-bread", "q-chess"], "test": ["q-spark2", "q-nurse2"]})
    overrides = ["experiment=smoke", "data.first_stage_k=4", "data.max_train_queries=2", "data.min_test_queries=1"]
    manifest = {"collections": {"tiny": {"overrides": overrides}}}
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    args = ["--collections", str(tmp_path / "collections"), "--out", str(tmp_path / "out"), "--manifest", str(tmp_path / "manifest.yaml")]
    out = _run("pool_curve.py", *args, "--collection", "tiny", "--queries", "1,2", "data.pool_first_stage_k=3")
    rows = [line.strip("| ").split(" | ") for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [(row[0], row[1]) for row in rows] == [("1", "3"), ("2", "6")]  # queries, and their top 3 each
    assert all(row[2].count("[") == 1 and ("better" in row[3] or "worse" in row[3] or "not resolved" in row[3]) for row in rows)


def test_free_fusions_prints_each_combination_of_the_free_scorers_against_the_first_stage_fused_with_the_served_base(
    tmp_path: Path, tiny_encoder_folder: Path
) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from real_data import run_recipe

    write_beir(tmp_path / "tiny")
    small = ["experiment=smoke", "data.first_stage_k=4", "data.min_test_queries=1"]
    run_recipe(["data=beir", f"data.path={tmp_path / 'tiny'}"], tmp_path / "run", small)
    out = _run("free_fusions.py", "--run", str(tmp_path / "run"), "--model", f"tiny={tiny_encoder_folder}")
    rows = {row[0]: row[1:] for row in (line.strip("| ").split(" | ") for line in out.splitlines()[2:] if line.startswith("| "))}
    singles, fused = ["first_stage", "served_base", "tiny"], ["first_stage + served_base", "first_stage + tiny", "served_base + tiny"]
    assert list(rows) == [*singles, *fused, "first_stage + served_base + tiny"]
    assert rows["first_stage + served_base"][2] == "+0.000 [+0.000, +0.000] not resolved"  # the pair every row is compared with
    assert all(len(rows[name][0].split(", ")) == name.count("+") + 1 for name in rows)  # a weight per scorer
    assert all(0.0 <= float(row[1]) <= 1.0 and row[2].endswith(("better", "worse", "not resolved")) for row in rows.values())


def test_base_models_scores_a_runs_split_with_each_folder_paired_with_the_runs_own_base(smoke_run: Path, tiny_encoder_folder: Path) -> None:
    import json

    out = _run("base_models.py", "--run", str(smoke_run), "--model", f"tiny={tiny_encoder_folder}")
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| the run's base") or line.startswith("| tiny")]
    assert [row[0] for row in rows] == ["| the run's base", "| tiny"]
    report = json.loads((smoke_run / "report" / "report.json").read_text())
    assert float(rows[0][1]) == round(report["models"]["zero_shot"]["metrics"]["ndcg@10"], 3)  # scored as zero_shot is
    assert rows[1][2].split(" [")[0].startswith(("+", "-")) and rows[1][2].endswith(("better", "worse", "not resolved"))


def test_compare_runs_pairs_a_model_across_two_runs_over_their_test_requests(smoke_run: Path) -> None:
    out = _run("compare_runs.py", str(smoke_run), str(smoke_run), "--metrics", "ndcg@10", "violation_rate@10")
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith(("| ndcg@10", "| violation_rate@10"))]
    assert [row[0] for row in rows] == ["| ndcg@10", "| violation_rate@10"]
    assert all(row[3] == "+0.0000" and row[6] == "not resolved" for row in rows)  # a run against itself
