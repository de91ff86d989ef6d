"""The recipe on tiny models: every stage's outputs, reuse on rerun, the report and the export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from stillroom.artifacts import ArtifactStore
from stillroom.recipe.job import run_job
from stillroom.recipe.run import recipe_plan
from tests.helpers import SMOKE_RUN, compose_config

STAGES = recipe_plan(compose_config("experiment=smoke")).stages

MODELS = ("teacher", "student", "student_no_kd")
METRICS = ("ndcg@10", "mrr@10", "map", "auc", "kappa", "violation_rate@10")


def test_every_stage_completed_with_checksummed_outputs(smoke_run: Path) -> None:
    store = ArtifactStore(smoke_run)
    for stage in STAGES:
        assert store.completed_fingerprint(stage.name), stage.name
    for split in ("train", "dev", "test", "pool", "engagement"):
        assert store.exists("prepare", f"{split}.jsonl")
    for stage in ("finetune", "distill", "distill_no_kd"):
        assert store.exists(stage, "weights.safetensors") and store.read_jsonl(stage, "history.jsonl")


def test_soft_labels_are_distributions_over_the_label_scale(smoke_run: Path) -> None:
    store = ArtifactStore(smoke_run)
    soft = store.read_tensors("label", "soft_labels.safetensors")
    assert soft["pool"].shape == (len(store.read_jsonl("prepare", "pool.jsonl")), 4)
    assert torch.allclose(soft["pool"].sum(-1), torch.ones(soft["pool"].shape[0]), atol=1e-5)
    assert store.completed_summary("label")["policy_sha256"] == json.loads((smoke_run / "report" / "report.json").read_text())["policy"]["sha256"]


def test_report_json_has_the_promised_shape(smoke_run: Path) -> None:
    report = json.loads((smoke_run / "report" / "report.json").read_text())
    assert report["product"] == "jobs"
    assert set(report["policy"]) >= {"version", "sha256"} and len(report["policy"]["sha256"]) == 64
    for name in MODELS:
        model = report["models"][name]
        assert model["params"] > 0 and model["throughput_pairs_per_s"] > 0
        for metric in METRICS:
            assert 0.0 <= model["metrics"][metric] <= 1.0 or metric == "kappa", (name, metric)
    teacher, student = report["models"]["teacher"], report["models"]["student"]
    assert report["retained_ndcg@10"] == student["metrics"]["ndcg@10"] / teacher["metrics"]["ndcg@10"]
    assert report["speedup"] == student["throughput_pairs_per_s"] / teacher["throughput_pairs_per_s"]
    assert report["seed"] == 7


def test_report_md_and_plots(smoke_run: Path) -> None:
    markdown = (smoke_run / "report" / "report.md").read_text()
    for name in MODELS:
        assert f"| {name} |" in markdown
    for png in ("quality_vs_throughput.png", "training_curves.png"):
        assert (smoke_run / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_is_a_hf_folder_with_a_model_card_naming_the_policy(smoke_run: Path) -> None:
    report = json.loads((smoke_run / "report" / "report.json").read_text())
    folder = smoke_run / "export" / "student"
    card = (folder / "README.md").read_text()
    assert report["policy"]["sha256"] in card and f'"{report["policy"]["version"]}"' in card
    student = compose_config(*SMOKE_RUN).student
    assert f"**Architecture**: `{student.name}`, " in card and f"`max_length` {student.max_length} tokens" in card
    assert f"| ndcg@10 | {report['models']['student']['metrics']['ndcg@10']:.4f} |" in card
    assert "- Compliance (not checked)" in card  # the smoke run records compliance and holds nothing to it
    assert "stillroom score --model THIS_FOLDER" in card and "Each input line holds `request_text` and `candidate_text`;" in card
    assert load_file(str(folder / "model.safetensors"))
    id2label = json.loads((folder / "config.json").read_text())["id2label"]
    assert id2label == {"0": "not_relevant", "1": "somewhat_relevant", "2": "relevant", "3": "highly_relevant"}


def test_a_card_names_the_features_a_row_must_carry_and_the_rules_it_was_served_with() -> None:
    from types import SimpleNamespace

    from stillroom.evaluation.model_card import row_needs, served_with_rules

    policy = SimpleNamespace(source="products/search/policy.md")
    assert served_with_rules({"serving": {"hard_rules": "off"}}, policy) == ""
    assert "score with `--policy products/search/policy.md`" in served_with_rules({"serving": {"hard_rules": "policy"}}, policy)
    assert row_needs({"features": []}) == ""
    needs = row_needs({"features": ["first_stage_score", "by_connection"]})
    assert needs.startswith(", and `first_stage_score`") and "`features` with `by_connection`" in needs


def test_manifest_records_lineage_and_checksums(smoke_run: Path) -> None:
    manifest = json.loads((smoke_run / "manifest.json").read_text())
    assert manifest["policy"]["sha256"] == json.loads((smoke_run / "report" / "report.json").read_text())["policy"]["sha256"]
    assert len(manifest["data_fingerprint"]) == 64
    assert {"torch", "lightning", "transformers"} <= set(manifest["packages"])
    assert manifest["stages"]["export"]["outputs"]["student/model.safetensors"]


@pytest.mark.slow
def test_rerun_reuses_every_stage_and_a_changed_student_reruns_only_its_stages(smoke_run: Path, capsys) -> None:
    before = json.loads((smoke_run / "report" / "report.json").read_text())
    run_job(compose_config(*SMOKE_RUN), smoke_run)
    out = capsys.readouterr().out
    assert all(f"{stage.name}: unchanged" in out for stage in STAGES)
    assert json.loads((smoke_run / "report" / "report.json").read_text())["models"]["student"]["metrics"] == before["models"]["student"]["metrics"]

    (smoke_run / "report" / "report.md").write_text("edited by hand")
    run_job(compose_config(*SMOKE_RUN), smoke_run)
    out = capsys.readouterr().out
    assert "report: running again: report/report.md no longer matches its checksum" in out and "evaluate: unchanged" in out

    run_job(compose_config(*SMOKE_RUN, "student.hidden_size=8", "export.onnx=false"), smoke_run)
    out = capsys.readouterr().out
    for reused in ("prepare", "finetune", "label"):
        assert f"{reused}: unchanged" in out
    for rerun in ("distill", "distill_no_kd", "evaluate", "export"):
        assert f"{rerun}: running" in out
    run_job(compose_config(*SMOKE_RUN), smoke_run)  # leave the shared run as it was


def test_baselines_are_ranked_beside_the_models_on_the_same_requests(smoke_run: Path) -> None:
    report = json.loads((smoke_run / "report" / "report.json").read_text())
    for name in ("bm25", "zero_shot"):
        baseline = report["models"][name]
        assert baseline["baseline"] is True
        assert "kappa" not in baseline["metrics"] and 0.0 <= baseline["metrics"]["ndcg@10"] <= 1.0
    assert report["models"]["bm25"]["throughput_pairs_per_s"] is None  # a lexical score serves as no ranker: untimed
    assert report["models"]["zero_shot"]["throughput_pairs_per_s"] > 0  # timed as it would serve, beside the student
    assert report["models"]["bm25"]["params"] == 0
    assert report["models"]["zero_shot"]["params"] > 0  # the untrained teacher's encoder
    assert "| bm25 | 0 | — |" in (smoke_run / "report" / "report.md").read_text()


def test_per_request_results_on_disk_are_what_every_figure_and_interval_is_made_of(smoke_run: Path) -> None:
    report = json.loads((smoke_run / "report" / "report.json").read_text())
    rows = ArtifactStore(smoke_run).read_jsonl("evaluate", "per_request.jsonl")
    for name, model in report["models"].items():
        for metric in ("ndcg@10", "mrr@10", "map", "violation_rate@10"):
            for split, figures in (("test", model["metrics"]), ("dev", model["dev_metrics"])):
                mine = [r for r in rows if (r["model"], r["metric"], r["split"]) == (name, metric, split)]
                assert len(mine) == report["requests"][split], (name, metric, split)
                weighted = sum(r["value"] * r["weight"] for r in mine) / sum(r["weight"] for r in mine)
                assert weighted == pytest.approx(figures[metric], abs=1e-6), (name, metric, split)
            low, high = model["ci"][metric]
            assert low <= model["metrics"][metric] + 1e-9 and model["metrics"][metric] <= high + 1e-9, (name, metric)


def test_the_comparisons_a_team_decides_on_are_paired_with_an_interval_a_p_value_and_a_verdict(smoke_run: Path) -> None:
    report = json.loads((smoke_run / "report" / "report.json").read_text())
    by_pair = {(c["a"], c["b"], c["metric"]): c for c in report["comparisons"]}
    wanted = [("student", "teacher"), ("student", "student_no_kd"), *((m, b) for m in ("student", "teacher") for b in ("bm25", "zero_shot"))]
    for a, b in wanted:
        comparison = by_pair[(a, b, "ndcg@10")]
        models = report["models"]
        assert comparison["difference"] == pytest.approx(models[a]["metrics"]["ndcg@10"] - models[b]["metrics"]["ndcg@10"], abs=1e-6)
        low, high = comparison["ci"]
        assert low <= comparison["difference"] + 1e-9 and comparison["difference"] <= high + 1e-9
        assert 0.0 < comparison["p_value"] <= 1.0 and comparison["requests"] == report["requests"]["test"]
        expected = "better" if low > 0 else "worse" if high < 0 else "not resolved"
        assert comparison["verdict"] == expected
    assert by_pair[("student", "teacher", "violation_rate@10")]  # every per-request metric is compared
    markdown = (smoke_run / "report" / "report.md").read_text()
    assert "**What distillation adds**: the student " in markdown and "golden test** (4 requests)" in markdown
    student = report["models"]["student"]
    assert f"{student['metrics']['ndcg@10']:.4f} [{student['ci']['ndcg@10'][0]:.3f}, {student['ci']['ndcg@10'][1]:.3f}]" in markdown
    assert "beats_baselines" not in report


def test_the_objective_a_sweep_reads_is_the_students_figure_on_golden_dev(smoke_run: Path) -> None:
    report = json.loads((smoke_run / "report" / "report.json").read_text())
    assert report["objective"] == {
        "model": "student",
        "split": "dev",
        "metric": "ndcg@10",
        "value": report["models"]["student"]["dev_metrics"]["ndcg@10"],
    }
    assert report["splits"]["metrics"] == "golden test" and report["splits"]["objective"] == "golden dev"
    assert report["models"]["student"]["dev_metrics"] != report["models"]["student"]["metrics"]


def test_a_changed_data_file_or_folder_changes_what_the_prepare_fingerprint_covers(tmp_path: Path) -> None:

    from stillroom.recipe.run import stage_fingerprint_config

    data = tmp_path / "pairs.jsonl"
    data.write_text('{"request_id": "m1"}\n')
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n")
    prepare = next(stage for stage in recipe_plan(compose_config("experiment=smoke")).stages if stage.name == "prepare")

    def parts(path: Path) -> dict:
        return stage_fingerprint_config({"seed": 7, "product": {}, "data": {"path": str(path)}}, prepare)

    before = {"file": parts(data), "folder": parts(folder)}
    data.write_text('{"request_id": "m2"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert parts(data) != before["file"] and parts(folder) != before["folder"]


@pytest.mark.slow
def test_a_run_at_another_k_reports_every_figure_and_comparison_at_that_k(tmp_path: Path) -> None:
    run_job(compose_config("experiment=smoke", "evaluator.k=5"), tmp_path)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["k"] == 5 and report["primary_metric"] == "ndcg@5" and report["objective"]["metric"] == "ndcg@5"
    for model in report["models"].values():
        assert {"ndcg@5", "mrr@5", "violation_rate@5"} <= set(model["metrics"]) and "ndcg@10" not in model["metrics"]
        assert set(model["ci"]) == {"ndcg@5", "mrr@5", "map", "violation_rate@5"}
    assert "retained_ndcg@5" in report and any(c["metric"] == "ndcg@5" for c in report["comparisons"])
    compliance = ArtifactStore(tmp_path).completed_summary("compliance")
    assert compliance["metric"] == "violation_rate@5" and compliance["rate"] == report["models"]["student"]["metrics"]["violation_rate@5"]
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| ndcg@5 | mrr@5 |" in markdown and "## What the figures say (ndcg@5)" in markdown


def test_what_the_gate_and_the_epoch_choice_read_is_in_their_fingerprints() -> None:
    """A changed gain bound or k must run the gate (and the training that picks an epoch at k) again, not reuse them."""
    stages = {stage.name: stage for stage in recipe_plan(compose_config("experiment=smoke")).stages}
    assert {"gate.min_gain_over_zero_shot", "gate.gain_must_be_resolved", "evaluator.k", "evaluator.intervals"} <= set(stages["gate"].config_keys)
    assert all("evaluator.k" in stages[name].config_keys for name in ("finetune", "distill", "distill_no_kd"))
