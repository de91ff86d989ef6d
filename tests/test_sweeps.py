"""Sweeps: the basic and joblib launchers, the Optuna sweeper reading the run's objective, sweep-report, the shared stage cache."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from stillroom.cli import main
from stillroom.cli.sweep_report import SweepJob, pareto_front, read_sweep
from stillroom.recipe.job import run_job
from tests.helpers import compose_config, stillroom


def _job(folder: Path, name: str, overrides: list[str], report: dict | None) -> None:
    (folder / name / ".hydra").mkdir(parents=True)
    (folder / name / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if report is not None:
        (folder / name / "report").mkdir(parents=True, exist_ok=True)
        (folder / name / "report" / "report.json").write_text(json.dumps(report))


def _report(params: int, pairs_per_s: float, dev: float, test: float, retained: float) -> dict:
    student = {"params": params, "throughput_pairs_per_s": pairs_per_s, "metrics": {"ndcg@10": test}, "dev_metrics": {"ndcg@10": dev}}
    return {
        "models": {"student": student},
        "primary_metric": "ndcg@10",
        "retained_ndcg@10": retained,
        "objective": {"model": "student", "split": "dev", "metric": "ndcg@10", "value": dev},
    }


def test_the_pareto_front_holds_the_jobs_no_other_job_beats_on_both_dev_and_throughput() -> None:
    jobs = [
        SweepJob("fast", (), throughput=5000.0, dev=0.70, test=0.60),
        SweepJob("good", (), throughput=1000.0, dev=0.80, test=0.60),
        SweepJob("worse", (), throughput=900.0, dev=0.75, test=0.90),  # slower and worse on dev than "good": test never counts
        SweepJob("tie", (), throughput=1000.0, dev=0.80),  # equal to "good": neither beats the other
        SweepJob("failed", ()),
    ]
    assert [job.name for job in pareto_front(jobs)] == ["fast", "good", "tie"]


def test_sweep_report_writes_one_table_and_a_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _job(tmp_path, "0", ["product=jobs", "student.interaction_dim=128"], _report(1_000_000, 6000.0, 0.71, 0.90, 0.86))
    _job(tmp_path, "1", ["product=jobs", "student.interaction_dim=256"], _report(2_000_000, 5000.0, 0.78, 0.70, 0.95))
    _job(tmp_path, "2", ["product=jobs", "student.interaction_dim=512"], _report(4_000_000, 3000.0, 0.76, 0.95, 0.92))
    _job(tmp_path, "10", ["product=jobs", "student.interaction_dim=1024"], None)  # a job that died: listed, not plotted
    assert [job.name for job in read_sweep(tmp_path)] == ["0", "1", "2", "10"]  # Hydra's job order, not the folders' names

    assert main(["sweep-report", str(tmp_path)]) == 0
    assert "4 jobs, 3 with a report; Pareto front: 0, 1" in capsys.readouterr().out  # on dev: job 2's better test figure does not count
    rows = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert [(r["rank"], r["job"], r["pareto"]) for r in rows] == [("1", "1", "yes"), ("2", "2", ""), ("3", "0", "yes"), ("", "10", "no report")]
    assert rows[0] == {
        "rank": "1", "job": "1", "overrides": "student.interaction_dim=256", "params": "2000000", "pairs/s": "5000.0",
        "student ndcg@10 (dev)": "0.7800", "student ndcg@10 (test)": "0.7000", "retained": "0.9500", "pareto": "yes",
    }
    table = (tmp_path / "sweep.md").read_text()
    assert "| 1 | 1 | student.interaction_dim=256 | 2,000,000 | 5,000 | 0.7800 | 0.7000 | 95.0% | yes |" in table
    assert "ranked by **student ndcg@10 (dev)**" in table and "Across seeds" not in table
    assert "Every job had `product=jobs`; the table shows what set each apart." in table
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_job_whose_student_failed_compliance_is_listed_with_the_reason_and_kept_off_the_front(tmp_path: Path) -> None:
    failed = {**_report(1_000_000, 9000.0, 0.95, 0.95, 0.99), "verdict": {"compliance_failed": True},
              "compliance": {"reason": "the student puts a rule-breaking candidate in 40.0% of its top-10 slots"}}
    _job(tmp_path, "0", ["student.interaction_dim=128"], failed)
    _job(tmp_path, "1", ["student.interaction_dim=256"], _report(2_000_000, 5000.0, 0.78, 0.70, 0.95))
    jobs = read_sweep(tmp_path)
    assert jobs[0].failure == "failed compliance: the student puts a rule-breaking candidate in 40.0% of its top-10 slots"
    assert [job.name for job in pareto_front(jobs)] == ["1"]


def test_sweep_report_on_a_folder_that_is_no_multirun_says_what_it_expected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep-report", str(tmp_path)]) == 2
    assert "holds no multirun jobs (folders with .hydra/overrides.yaml)" in capsys.readouterr().err
    _job(tmp_path, "0", [], {"models": {}})
    assert main(["sweep-report", str(tmp_path)]) == 2
    assert "report.json: expected a stillroom report with an objective on golden dev" in capsys.readouterr().err


def test_sweep_report_shows_each_figures_mean_and_spread_across_seeds(tmp_path: Path) -> None:
    for index, (seed, dev, test) in enumerate([(1, 0.70, 0.80), (2, 0.74, 0.84), (3, 0.72, 0.86)]):
        _job(tmp_path, str(index), [f"seed={seed}"], _report(1_000, 5000.0 + index, dev, test, 0.9))
    _job(tmp_path, "3", ["seed=1", "student.interaction_dim=128"], _report(500, 9000.0, 0.60, 0.60, 0.8))  # a setting run once
    assert main(["sweep-report", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "sweep_seeds.csv").open()))
    assert len(rows) == 1 and rows[0]["setting"] == "(every job)" and rows[0]["seeds"] == "3"
    assert rows[0]["student ndcg@10 (dev)"] == "0.7200 ± 0.0200" and rows[0]["student ndcg@10 (test)"] == "0.8333 ± 0.0306"
    assert rows[0]["student pairs/s"] == "5,001 ± 1"
    assert "## Across seeds (mean ± standard deviation)" in (tmp_path / "sweep.md").read_text()


@pytest.mark.slow
def test_runs_sharing_a_stage_cache_make_the_teacher_once_and_never_take_a_damaged_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    run_job(compose_config("experiment=smoke", f"stage_cache={cache}"), tmp_path / "first")
    capsys.readouterr()
    run_job(compose_config("experiment=smoke", f"stage_cache={cache}", "student.hidden_size=8"), tmp_path / "second")
    log = capsys.readouterr().out
    for stage in ("prepare", "finetune", "gate", "label"):
        assert f"{stage}: unchanged, reusing {cache / stage}" in log
    assert "distill: running" in log  # the knob changed what distill computes
    first, second = (json.loads((tmp_path / run / "report" / "report.json").read_text()) for run in ("first", "second"))
    assert first["models"]["teacher"]["metrics"] == second["models"]["teacher"]["metrics"]
    assert first["models"]["student"]["params"] != second["models"]["student"]["params"]

    [weights] = (cache / "finetune").glob("*/weights.safetensors")
    weights.write_bytes(b"not the weights")  # a broken copy: its checksum no longer matches the record
    run_job(compose_config("experiment=smoke", f"stage_cache={cache}", "student.hidden_size=8"), tmp_path / "third")
    log = capsys.readouterr().out
    assert "finetune: running" in log and f"reusing {cache / 'prepare'}" in log


def _multirun(*overrides: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``stillroom run -m OVERRIDES`` in this process: the command's code path, without a fresh interpreter per test."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    try:
        assert main(["run", "-m", "experiment=smoke", *overrides]) == 0
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.slow
def test_a_multirun_over_the_products_writes_each_its_own_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = tmp_path / "sweep"
    _multirun("product=feed,search", f"hydra.sweep.dir={sweep}", monkeypatch=monkeypatch)
    reports = {r.parent.parent.name: json.loads(r.read_text())["product"] for r in sweep.glob("*/report/report.json")}
    assert reports == {"0_feed": "feed", "1_search": "search"}


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.distributed
def test_a_multirun_over_seeds_runs_in_parallel_processes_and_sweep_report_shows_the_seeds_spread(tmp_path: Path) -> None:
    """The joblib launcher, through the console script: the jobs run at once, in processes of their own;
    `stillroom run -m seed=1,2` then `sweep-report` gives each figure's mean and spread across the seeds."""
    sweep = tmp_path / "sweep"
    result = stillroom(
        "run", "-m", "experiment=smoke", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    assert main(["sweep-report", str(sweep)]) == 0
    rows = list(csv.DictReader((sweep / "sweep.csv").open()))
    assert sorted(r["overrides"] for r in rows) == ["seed=1", "seed=2"]
    assert all(r["student ndcg@10 (dev)"] and r["student ndcg@10 (test)"] and r["pairs/s"] and r["pareto"] in {"yes", ""} for r in rows)
    [seeds] = list(csv.DictReader((sweep / "sweep_seeds.csv").open()))
    reports = [json.loads((sweep / f"{n}_jobs" / "report" / "report.json").read_text()) for n in (0, 1)]
    tests = [r["models"]["teacher"]["metrics"]["ndcg@10"] for r in reports]
    mean, spread = seeds["teacher ndcg@10 (test)"].split(" ± ")
    assert seeds["seeds"] == "2" and float(mean) == pytest.approx(sum(tests) / 2, abs=1e-4)
    assert float(spread) == pytest.approx(abs(tests[0] - tests[1]) / 2**0.5, abs=1e-4)  # the sample standard deviation of two


@pytest.mark.slow
def test_the_optuna_sweeper_maximises_the_objective_each_run_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "conf" / "hparams_search"
    conf.mkdir(parents=True)
    (conf / "tiny_optuna.yaml").write_text(  # student_optuna's search, over the tiny student's knobs
        "# @package _global_\ndefaults:\n  - override /hydra/sweeper: optuna\n"
        "stage_cache: ${hydra:sweep.dir}/stage_cache\n"
        "hydra:\n  sweeper:\n    direction: maximize\n    n_trials: 2\n    n_jobs: 1\n    sampler:\n      seed: 3\n"
        "    params:\n      student.hidden_size: choice(8, 16)\n      loss.distill.soft_label_kl.temperature: interval(1.0, 4.0)\n"
    )
    sweep = tmp_path / "sweep"
    _multirun("hparams_search=tiny_optuna", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", f"hydra.sweep.dir={sweep}", monkeypatch=monkeypatch)
    reports = [json.loads(r.read_text()) for r in sweep.glob("*/report/report.json")]
    dev = [r["models"]["student"]["dev_metrics"]["ndcg@10"] for r in reports]
    assert len(dev) == 2 and all(r["objective"]["value"] == d for r, d in zip(reports, dev, strict=True))
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(dev))  # the sweeper read each job's dev figure, never a test one


def test_the_shipped_optuna_search_composes_with_its_sweeper_and_knobs() -> None:
    with initialize_config_module(config_module="stillroom.conf", version_base="1.3"):
        sweeper = compose(config_name="config", overrides=["hparams_search=student_optuna"], return_hydra_config=True).hydra.sweeper
    assert sweeper["_target_"] == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert sweeper["direction"] == "maximize"
    assert set(sweeper["params"]) == {
        "student.interaction_dim", "student.mlp_hidden", "loss.distill.soft_label_kl.temperature", "loss.distill.hidden_mse.weight", "loss.distill.hard_label_ce.weight"
    }


@pytest.mark.slow
def test_a_job_stopped_by_a_gate_does_not_stop_the_sweep_and_sweep_report_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweep"
    _multirun("gate.min_kappa=2.0,-1.0", f"stage_cache={sweep / 'stage_cache'}", f"hydra.sweep.dir={sweep}", monkeypatch=monkeypatch)
    assert "the teacher fails the policy gate" in capsys.readouterr().err
    failed = json.loads((sweep / "0_jobs" / "gate_failed.json").read_text())
    assert failed["stage"] == "gate" and "gate.min_kappa 2.000" in failed["message"]
    assert not (sweep / "0_jobs" / "report").exists() and (sweep / "1_jobs" / "report" / "report.json").is_file()
    assert main(["sweep-report", str(sweep)]) == 0
    rows = {r["job"]: r for r in csv.DictReader((sweep / "sweep.csv").open())}
    assert rows["0_jobs"]["pareto"] == "gate failed" and rows["1_jobs"]["rank"] == "1"
    assert "Job 0_jobs (gate.min_kappa=2.0) stopped in gate: the teacher fails the policy gate" in (sweep / "sweep.md").read_text()
