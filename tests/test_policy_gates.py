"""The recipe answers to the policy: the judge and its gate, labels bound to the policy, the compliance gate."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch

from stillroom.artifacts import ArtifactStore
from stillroom.config.resources import resolve_file
from stillroom.data import Pair
from stillroom.errors import GATE_EXIT_CODE, GateFailed, StillroomError
from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy.gate import GainCheck, judge_gate
from stillroom.policy.source import load_policy
from stillroom.recipe.job import run_job
from stillroom.recipe.run import recipe_plan, stage_fingerprint_config
from stillroom.stages.contracts import Artifact, Plan, Stage
from stillroom.stages.labeling import cap_by_rules, read_soft_labels, write_soft_labels
from stillroom.stages.stage_io import StageIO
from tests.helpers import SMOKE_RUN, compose_config, run_cli

JOBS_POLICY = "stillroom.products.jobs:policy.md"


@pytest.fixture(scope="module")
def policy():
    return load_policy(JOBS_POLICY, get_plugin_manager())


def _pair(request: dict, candidate: dict) -> Pair:
    return Pair("p", "r", "c", "", "", request=request, candidate=candidate, label=None)


def test_labels_above_a_rule_cap_move_onto_the_cap(policy) -> None:
    member = {"remote_only": True, "open_to_relocation": False, "city": "Berlin", "seniority": 2}
    onsite = {"workplace": "onsite", "city": "Berlin", "seniority": 2}  # remote-only-member: cap 0
    stretch = {"workplace": "remote", "city": "Paris", "seniority": 4}  # seniority-reach: cap 1
    fine = {"workplace": "remote", "city": "Paris", "seniority": 2}
    probs = torch.tensor([[0.1, 0.2, 0.3, 0.4]] * 3)
    capped = cap_by_rules(probs, [_pair(member, onsite), _pair(member, stretch), _pair(member, fine)], policy)
    assert torch.allclose(capped[0], torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert torch.allclose(capped[1], torch.tensor([0.1, 0.9, 0.0, 0.0]))
    assert torch.equal(capped[2], probs[2])


def test_soft_labels_refuse_to_train_under_another_policy(policy, tmp_path: Path) -> None:
    labels = Artifact("teacher.labels", "soft_labels.safetensors")
    plan = Plan([Stage("label", lambda ctx: {}, (), writes=(labels,))])
    writer, reader = StageIO(ArtifactStore(tmp_path), plan, plan.stages[0]), StageIO(ArtifactStore(tmp_path), plan)
    write_soft_labels(writer, labels, {"pool": torch.full((2, 4), 0.25)}, policy, labeler="teacher")
    assert read_soft_labels(reader, labels.name, policy)["pool"].shape == (2, 4)
    assert reader.read_tensor_metadata(labels.name)["policy_sha256"] == policy.sha256
    other = type(policy)(**{**policy.__dict__, "sha256": "0" * 64})
    with pytest.raises(StillroomError, match="made under policy sha256"):
        read_soft_labels(reader, labels.name, other)


def test_kappa_on_a_dev_set_with_one_label_is_an_error_not_a_number(policy) -> None:
    dev = [Pair(f"p{i}", "r", f"c{i}", "", "", label=0) for i in range(4)]
    with pytest.raises(StillroomError, match="1 distinct labels: agreement \\(kappa\\) is undefined"):
        judge_gate("teacher", dev, torch.full((4, 4), 0.25), [], torch.zeros(0, 4), policy, {"min_kappa": 0.5})


def test_editing_the_judge_prompt_file_changes_the_judge_fingerprint(tmp_path: Path) -> None:
    template = tmp_path / "prompt.j2"
    template.write_text("Is it relevant? {{ request }} {{ candidate }}")
    config = {"judge": {"name": "causal_lm_judge", "prompt": str(template)}, "seed": 7, "trainer": {}, "loss": {}, "labeling": {}}
    stage = next(s for s in recipe_plan(config).stages if s.name == "judge")
    before = stage_fingerprint_config(config, stage)
    template.write_text("Is it relevant under the policy? {{ request }} {{ candidate }}")
    assert stage_fingerprint_config(config, stage) != before


def test_with_a_judge_changing_the_teacher_changes_the_gates_fingerprint() -> None:
    """The judge's gate measures its gain against zero_shot, built from the teacher's config: a rerun with another
    teacher may not reuse a gain measured against the first one."""

    def gate_fingerprint(*overrides: str) -> dict:
        config = compose_config("judge=tiny", "logger=none", *overrides)
        stage = next(s for s in recipe_plan(config).stages if s.name == "gate")
        return stage_fingerprint_config(config, stage)

    assert gate_fingerprint("teacher=tiny") != gate_fingerprint("teacher=minilm_lora")
    assert gate_fingerprint("teacher=tiny") == gate_fingerprint("teacher=tiny", "student=tiny")  # the student it never reads


@pytest.mark.slow
@pytest.mark.parametrize("judge", ["tiny", "tiny_causal_lm"])
def test_a_judged_recipe_gates_the_judge_and_teaches_the_teacher_with_its_labels(judge: str, tmp_path: Path, capsys) -> None:
    cfg = compose_config("experiment=smoke", f"judge={judge}")
    names = [stage.name for stage in recipe_plan(cfg).stages]
    assert names[:6] == ["prepare", "judge", "gate", "judge_label", "finetune", "label"]
    report = run_job(cfg, tmp_path)
    store = ArtifactStore(tmp_path)
    out = capsys.readouterr().out
    assert "the judge passes the policy gate" in out
    # A causal-LM judge records no hidden states: the teacher learns from its labels without hidden_mse.
    assert ("finetune: hidden_mse left out" in out) == (judge == "tiny_causal_lm")
    assert store.exists("judge_label", "hidden_states.safetensors") == (judge == "tiny")
    assert report["gate"]["model"] == "judge" and report["gate"]["passed"]
    gain = report["gate"]["gain"]  # the smoke recipe measures the gain and asks for none (a bound of -1)
    assert gain["baseline"] == "zero_shot" and gain["metric"] == "ndcg@10" and gain["min_gain"] == -1.0
    assert gain["gain"] == pytest.approx(gain["labeler"] - gain["free_model"]) and gain["ci"][0] <= gain["ci"][1]
    assert list(report["models"]) == ["judge", "teacher", "student", "student_no_kd", "bm25", "zero_shot"]
    labeled = len(store.read_jsonl("prepare", "pool.jsonl")) + len(store.read_jsonl("prepare", "train.jsonl"))
    assert store.completed_summary("finetune")["train_pairs"] == labeled  # the teacher learned from the judge's labels
    assert store.read_tensor_metadata("judge_label", "soft_labels.safetensors")["labeler"] == "judge"


def test_a_judge_below_the_gate_stops_the_run_before_labeling(tmp_path: Path) -> None:
    cfg = compose_config("experiment=smoke", "gate.min_kappa=0.99", "gate.precedents=true")
    with pytest.raises(GateFailed) as excinfo:
        run_job(cfg, tmp_path)
    message = str(excinfo.value)
    assert "the teacher fails the policy gate: quadratic kappa" in message and "gate.min_kappa 0.990" in message
    assert "precedents" in message
    store = ArtifactStore(tmp_path)
    assert store.completed_fingerprint("finetune") and not store.completed_fingerprint("gate")
    assert not (tmp_path / "label").exists() and not (tmp_path / "report" / "report.json").exists()


@pytest.mark.parametrize(
    ("gain", "ci", "must_be_resolved", "passed"),
    [
        (0.02, (-0.04, 0.08), False, True),  # by default the mean decides, the interval is reported
        (-0.01, (-0.06, 0.04), False, False),
        (0.02, (-0.04, 0.08), True, False),  # resolved: the whole interval above the bound
        (0.05, (0.01, 0.09), True, True),
    ],
)
def test_the_gain_over_the_free_model_passes_by_its_mean_or_by_its_whole_interval(gain, ci, must_be_resolved, passed) -> None:
    check = GainCheck("zero_shot", "ndcg@10", 0.7 + gain, 0.7, gain, ci, 0.0, must_be_resolved, 10)
    assert check.passed is passed
    assert f"gain {gain:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}] over 10 requests, gate.min_gain_over_zero_shot +0.000" in check.explain()


def test_a_labeler_short_of_the_gain_over_zero_shot_stops_the_run_with_the_figures(tmp_path: Path) -> None:
    cfg = compose_config("experiment=smoke", "gate.min_gain_over_zero_shot=0.9")
    with pytest.raises(GateFailed, match=r"ndcg@10 on golden dev [\d.]+ against zero_shot's [\d.]+: gain [-+][\d.]+ \[") as excinfo:
        run_job(cfg, tmp_path)
    assert "gate.min_gain_over_zero_shot +0.900 (at least)" in str(excinfo.value)
    assert not ArtifactStore(tmp_path).completed_fingerprint("gate") and not (tmp_path / "label").exists()


def test_a_student_above_the_violation_bound_is_withheld_from_export_and_the_report_says_why(smoke_run: Path, tmp_path: Path) -> None:
    shutil.copytree(smoke_run, tmp_path, dirs_exist_ok=True)
    report = run_job(compose_config(*SMOKE_RUN, "compliance.mode=fail", "compliance.max_violation_rate=0.0"), tmp_path)
    recorded = json.loads((tmp_path / "compliance" / "compliance.json").read_text())
    assert recorded["checked"] and recorded["passed"] is False and recorded["bound_from"] == "compliance.max_violation_rate"
    assert re.search(r"above compliance.max_violation_rate's bound 0.0% \(by rule: remote-only-member \d+", recorded["reason"])
    assert not (tmp_path / "export" / "student").exists() and report["exported"] is None
    assert report["verdict"]["compliance_failed"] and not report["verdict"]["ship"]
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "**Verdict: do not ship the student.**" in markdown and "withheld the student from export" in markdown


@pytest.mark.slow
def test_the_command_exits_3_when_the_student_fails_compliance_and_names_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    run_dir = tmp_path / "run"
    status = run_cli(["run", *SMOKE_RUN, "compliance.mode=fail", "compliance.max_violation_rate=0.0", f"hydra.run.dir={run_dir}"])
    err = capsys.readouterr().err
    assert status == GATE_EXIT_CODE == 3, err
    assert "stillroom: error: compliance: the student puts a rule-breaking candidate" in err and "it is not exported" in err
    assert (run_dir / "report" / "report.md").is_file() and not (run_dir / "export" / "student").exists()


@pytest.mark.slow
def test_the_student_is_checked_against_its_teacher_with_a_paired_interval(smoke_run: Path, tmp_path: Path) -> None:
    shutil.copytree(smoke_run, tmp_path, dirs_exist_ok=True)
    run_job(compose_config(*SMOKE_RUN, "compliance.mode=warn", "compliance.max_violation_rate=1.0"), tmp_path)
    summary = ArtifactStore(tmp_path).completed_summary("compliance")
    versus = summary["against_teacher"]
    assert summary["checked"] and summary["mode"] == "warn" and summary["passed"] is (versus["verdict"] != "worse")
    assert versus["model"] == "teacher" and versus["requests"] > 0 and versus["ci"][0] <= versus["difference"] <= versus["ci"][1]
    assert 0.0 <= summary["floor"] <= summary["rate"]


@pytest.mark.slow
def test_warn_exports_a_student_above_the_policys_own_bound_and_the_report_says_not_to_ship(
    smoke_run: Path, tmp_path: Path, policy
) -> None:
    strict = tmp_path / "policy.md"
    text = resolve_file(JOBS_POLICY, "policy").read_text(encoding="utf-8")
    strict.write_text(re.sub(r"^max_violation_rate: [\d.]+", "max_violation_rate: 0.0", text, count=1, flags=re.MULTILINE), encoding="utf-8")
    assert load_policy(str(strict), get_plugin_manager()).max_violation_rate == 0.0
    report = run_job(compose_config(*SMOKE_RUN, f"product.policy={strict}", "compliance.mode=warn"), tmp_path / "run")
    assert report["compliance"]["bound_from"] == "policy" and report["verdict"]["compliance_failed"]
    assert (tmp_path / "run" / "export" / "student" / "README.md").is_file()
    markdown = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "**Verdict: do not ship the student.**" in markdown and "above policy's bound 0.0%" in markdown


@pytest.mark.slow
def test_compliance_off_records_the_figures_and_holds_nothing_to_them(smoke_run: Path, tmp_path: Path) -> None:
    shutil.copytree(smoke_run, tmp_path, dirs_exist_ok=True)
    report = run_job(compose_config(*SMOKE_RUN, "compliance.mode=off", "compliance.max_violation_rate=0.0"), tmp_path)
    assert report["compliance"]["checked"] is False and report["compliance"]["passed"] is None  # nothing checked: no pass claimed
    assert report["compliance"]["note"] == report["verdict"]["unchecked"] == "compliance.mode=off"
    assert not report["verdict"]["compliance_failed"] and "rate" in report["compliance"]


@pytest.mark.slow
def test_changing_one_rule_relabels_and_keeping_the_policy_reuses_the_labels(smoke_run: Path, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run, run_dir)
    before = json.loads((run_dir / "report" / "report.json").read_text())
    changed = tmp_path / "policy.md"
    text = resolve_file(JOBS_POLICY, "policy").read_text(encoding="utf-8")
    changed.write_text(text.replace("request.seniority >= 2", "request.seniority >= 3"), encoding="utf-8")

    run_job(compose_config("experiment=smoke", f"product.policy={changed}"), run_dir)
    assert re.search(r"\[stillroom\] stage \d+/\d+ label: running", capsys.readouterr().out)
    after = json.loads((run_dir / "report" / "report.json").read_text())
    assert after["policy"]["sha256"] != before["policy"]["sha256"]
    assert ArtifactStore(run_dir).completed_summary("label")["policy_sha256"] == after["policy"]["sha256"]

    run_job(compose_config("experiment=smoke", f"product.policy={changed}"), run_dir)
    assert re.search(r"\[stillroom\] stage \d+/\d+ label: unchanged", capsys.readouterr().out)
