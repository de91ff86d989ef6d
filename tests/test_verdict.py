"""The report's decision: ship the student only when it beats every baseline (resolved) and passes compliance."""

from __future__ import annotations

from typing import Any

import pytest

from stillroom.evaluation.report_words import report_markdown
from stillroom.evaluation.verdict import decide, verdict_line
from stillroom.recipe.closing import closing_lines


def _comparison(b: str, difference: float, ci: tuple[float, float], verdict: str) -> dict[str, Any]:
    return {"a": "student", "b": b, "metric": "ndcg@10", "difference": difference, "ci": list(ci), "p_value": 0.01,
            "verdict": verdict, "requests": 100}


def _report(comparisons: list[dict[str, Any]], compliance: dict[str, Any] | None = None) -> dict[str, Any]:
    model = {"params": 10, "throughput_pairs_per_s": 100.0, "metrics": {"ndcg@10": 0.8}, "ci": {}, "details": {}}
    baseline = {**model, "throughput_pairs_per_s": None, "baseline": True}
    report = {
        "product": "jobs", "policy": {"version": "1.0.0", "sha256": "abc"}, "seed": 7, "k": 10, "primary_metric": "ndcg@10",
        "gate": None, "requests": {"test": 100, "dev": 10}, "pairs": {"test": 2000}, "first_stage": None,
        "intervals": {"confidence": 0.95, "resamples": 100, "method": "percentile"},
        "models": {"teacher": model, "student": model, "bm25": baseline, "zero_shot": baseline},
        "comparisons": comparisons, "objective": {"model": "student", "metric": "ndcg@10", "value": None},
        "retained_ndcg@10": 0.97, "speedup": 50.0, "exported": {"folder": "export/student", "onnx": True},
        "compliance": compliance,
    }
    report["verdict"] = decide(report)
    return report


PASSED = {"checked": True, "passed": True, "failures": [], "rules_checked": ["remote_mismatch"], "rate": 0.25, "floor": 0.17,
          "max_violation_rate": None, "against_teacher": {"difference": -0.01, "ci": [-0.03, 0.01], "verdict": "not resolved", "requests": 100}}
BEATS_BOTH = [_comparison("bm25", 0.09, (0.05, 0.12), "better"), _comparison("zero_shot", 0.08, (0.04, 0.11), "better")]


def test_a_student_that_beats_every_baseline_and_passes_compliance_ships() -> None:
    report = _report(BEATS_BOTH, PASSED)
    assert report["verdict"]["ship"] and report["verdict"]["against"] == []
    line = verdict_line(report["verdict"])
    assert line.startswith("**Verdict: ship the student.**")
    assert "beats bm25 by +0.090 [+0.050, +0.120] ndcg@10" in line and "50.0x" in line and "below 17.0%" in line


@pytest.mark.parametrize(
    ("comparisons", "compliance", "reason"),
    [
        ([BEATS_BOTH[0], _comparison("zero_shot", 0.01, (-0.02, 0.04), "not resolved")], PASSED,
         "cannot be told from zero_shot on 100 test requests"),
        ([BEATS_BOTH[0], _comparison("zero_shot", -0.05, (-0.08, -0.02), "worse")], PASSED, "ranks worse than zero_shot"),
        (BEATS_BOTH, {**PASSED, "passed": False, "failures": ["puts a rule-breaking candidate in 40.0% of its top-10 slots"]},
         "puts a rule-breaking candidate in 40.0%"),
        ([], PASSED, "was not compared with any baseline"),
    ],
)
def test_a_student_is_not_shipped_when_anything_speaks_against_it(comparisons, compliance, reason: str) -> None:
    report = _report(comparisons, compliance)
    assert not report["verdict"]["ship"]
    line = verdict_line(report["verdict"])
    assert line.startswith("**Verdict: do not ship the student.**") and reason in line


def test_report_md_opens_with_the_verdict_names_what_to_ship_and_explains_its_words() -> None:
    markdown = report_markdown(_report(BEATS_BOTH, PASSED))
    lines = [line for line in markdown.splitlines() if line.strip()]
    assert lines[1].startswith("**Verdict: ship the student.**")
    assert "`export/student/` holds the student" in markdown and "model.onnx" in markdown
    assert "## What to ship" in markdown and "## What to try next" not in markdown
    assert "from this run's folder" in markdown and "stillroom score --model export/student --input pairs.jsonl --output scores.jsonl\n" in markdown
    assert "Golden test has 100 requests (2,000 pairs). That is small" in markdown
    assert "## Glossary" in markdown and "**violation_rate@k**" in markdown and "**kappa**" in markdown
    assert "no ranking of them goes below 17.0%" in markdown


def test_a_folder_without_onnx_is_scored_with_torch_in_the_report() -> None:
    report = _report(BEATS_BOTH, PASSED)
    report["exported"] = {"folder": "export/student", "onnx": False}
    assert "--output scores.jsonl --backend torch" in report_markdown(report)


def test_served_with_the_policys_rules_the_verdict_says_so_and_keeps_the_rate_alone_beside_it() -> None:
    served = {**PASSED, "hard_rules": "policy", "alone": {"rate": 0.31, "ci": [0.2, 0.4], "teacher_rate": 0.29}}
    report = _report(BEATS_BOTH, served)
    report["policy"]["source"] = "products/search/policy.md"
    line = verdict_line(report["verdict"])
    assert "25.0% of its top-10 slots as served with the policy's hard rules applied (31.0% ranked alone; -1.0 points against its teacher)" in line
    markdown = report_markdown(report)
    assert "ranked alone, the student's rate is 31.0%, its teacher's 29.0%" in markdown
    assert "--output scores.jsonl --policy products/search/policy.md" in markdown and "rank by `served_score`" in markdown
    assert "Every model and baseline is ranked **as served with the policy's hard rules applied**" in markdown
    assert "--policy" not in report_markdown(_report(BEATS_BOTH, PASSED))  # served as it ranks: no rules to apply


UNMEASURED = {"checked": False, "passed": None, "failures": [], "rules_checked": [],
              "note": "the data lacks the fields every hard rule reads (remote_mismatch reads request.remote_only)"}


def test_a_compliance_check_that_measured_nothing_is_said_not_checked_never_passed() -> None:
    report = _report(BEATS_BOTH, UNMEASURED)
    line = verdict_line(report["verdict"])
    assert line.startswith("**Verdict: ship the student.**")
    assert "compliance with the policy's hard rules was **not checked**: the data lacks the fields every hard rule reads" in line
    assert "rule-breaking" not in line and "passes" not in line
    markdown = report_markdown(report)
    assert "**not checked** (the data lacks the fields every hard rule reads (remote_mismatch reads request.remote_only))" in markdown
    assert "passes the compliance check" not in markdown


def _teacher_against(baseline: str, verdict: str) -> dict[str, Any]:
    better = verdict == "better"
    return {**_comparison(baseline, 0.05 if better else -0.01, (0.02, 0.08) if better else (-0.04, 0.02), verdict), "a": "teacher"}


@pytest.mark.parametrize(
    ("teacher_verdict", "advice"),
    [
        ("not resolved", "the teacher itself does not beat zero_shot"),
        ("better", "the teacher beats zero_shot but the student keeps only 97.0% of it"),
    ],
)
def test_a_do_not_ship_report_says_what_to_try_next_from_what_the_run_measured(teacher_verdict: str, advice: str) -> None:
    lost = _comparison("zero_shot", -0.03, (-0.05, -0.01), "worse")
    report = _report([BEATS_BOTH[0], lost, _teacher_against("zero_shot", teacher_verdict)], PASSED)
    markdown = report_markdown(report)
    assert "## What to ship" not in markdown and "## What to try next" in markdown
    [step] = report["verdict"]["next"]
    assert "The student is -0.030 [-0.050, -0.010] ndcg@10 against zero_shot" in step and advice in step
    assert ("teacher.pretrained" in step) == (teacher_verdict != "better") and ("student.train.epochs" in step) == (teacher_verdict == "better")
    assert "for inspection" in markdown  # the exported student is still named, as not to be served


def test_the_console_ends_with_the_verdict_and_the_real_score_command(tmp_path) -> None:
    shipped = closing_lines(_report(BEATS_BOTH, PASSED), tmp_path, tmp_path / "report").splitlines()
    floor = "no ranking of these slates goes below 17.0%"
    assert shipped[-3] == f"compliance: passed on rules remote_mismatch (25.0% of top-10 slots break a rule; {floor})"
    assert shipped[-2].startswith("Verdict: ship the student. It beats bm25")
    assert shipped[-1] == f"score with it: stillroom score --model {tmp_path.resolve()}/export/student --input pairs.jsonl --output scores.jsonl"
    refused = closing_lines(_report([_comparison("bm25", -0.03, (-0.05, -0.01), "worse")], UNMEASURED), tmp_path, tmp_path).splitlines()
    assert refused[-4].startswith("compliance: not checked: the data lacks the fields every hard rule reads")
    assert refused[-3].startswith("Verdict: do not ship the student. It ranks worse than bm25") and "not checked" in refused[-3]
    assert refused[-2].startswith("try next: The student is -0.030 [-0.050, -0.010] ndcg@10 against bm25")
    inspect = f"score with it (to inspect it; the verdict says not to ship it): stillroom score --model {tmp_path.resolve()}/export/student"
    assert refused[-1].startswith(inspect)


def test_an_interval_that_excludes_zero_never_prints_as_if_it_held_it_and_a_disagreeing_p_value_is_explained() -> None:
    from stillroom.evaluation.report_words import verdict_sentence
    from stillroom.evaluation.significance import bound_text, interval_text

    assert (bound_text(-0.039), bound_text(-0.0004), bound_text(0.0), bound_text(0.00000004)) == ("-0.039", "-0.0004", "+0.000", "+0.00000004")
    assert interval_text([-0.0391, -0.00002]) == "[-0.039, -0.00002]"
    borderline = {**_comparison("zero_shot", -0.02, (-0.039, -0.0002), "worse"), "p_value": 0.056}
    said = verdict_sentence(borderline)
    assert "trails **zero_shot** by 0.020 ndcg@10 [-0.039, -0.0002] (p = 0.056; the interval excludes 0 but" in said and "borderline" in said
    assert "borderline" not in verdict_sentence({**borderline, "p_value": 0.01})
