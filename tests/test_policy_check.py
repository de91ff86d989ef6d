"""`stillroom policy check` and `stillroom policy diff`: a valid policy, malformed ones, and a review diff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stillroom.cli import main
from stillroom.resources import resolve_file

JOBS_POLICY = "stillroom.products.jobs:policy.md"
SHIPPED = resolve_file(JOBS_POLICY, "policy").read_text(encoding="utf-8")


def mutated(old: str, new: str) -> str:
    assert old in SHIPPED, f"the shipped policy no longer contains {old!r}"
    return SHIPPED.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    """The last line holding ``needle`` (a duplicate is reported where it repeats)."""
    return max(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


# name: (file content, words the error must contain, the line it must name or None)
MALFORMED: dict[str, tuple[str | bytes, str, str | None]] = {
    "empty file": ("", "policy file is empty", None),
    "no front matter": ("# Jobs policy\n\nProse only.\n", "expected YAML front matter", None),
    "front matter not closed": ("---\nproduct: jobs\nversion: '1'\n", "not closed", None),
    "bad yaml": (mutated("relevant_from: 2", "relevant_from: [2"), "not valid YAML", None),
    "not utf-8": (b"---\nproduct: j\xffobs\n---\n", "not UTF-8", None),
    "missing label scale": (mutated("\nlabels:\n", "\nscale:\n"), "scale: is not a policy field", "scale:"),
    "labels out of order": (mutated("  - value: 0\n", "  - value: 5\n"), "ordinal scale with values 0, 1, 2", None),
    "unquoted version": (mutated('version: "1.0.0"', "version: 1.0"), 'expected a quoted string such as "1.0.0"', "version:"),
    "negative weight": (mutated("weight: 0.40", "weight: -0.4"), "dimensions[0].weight: input should be greater than 0", "weight: -0.4"),
    "typo in a key": (mutated("    max_label: 1\n", "    max_lable: 1\n"), "did you mean 'max_label'", "max_lable"),
    "unknown rule field": (mutated("candidate.seniority - request", "candidate.level - request"), "unknown field candidate.level", "candidate.level"),
    "python in a rule": (
        mutated("candidate.seniority - request", "__import__('os').getpid() + candidate.seniority - request"),
        "unknown name '__import__'",
        "__import__",
    ),
    "rule syntax error": (mutated("request.seniority >= 2", "request.seniority >=> 2"), "not a valid expression", ">=>"),
    "duplicate rule id": (
        mutated("id: no-relocation", "id: remote-only-member"),
        "rules[1].id: duplicate id 'remote-only-member'",
        "id: remote-only-member",
    ),
    "rule cap off the scale": (
        mutated("    max_label: 1\n", "    max_label: 9\n"),
        "rules[2].max_label: expected a label on the scale [0, 1, 2, 3], got 9",
        "max_label: 9",
    ),
    "precedent label off the scale": (mutated("    label: 1\n", "    label: 4\n"), "precedents[2].label: expected a label on the scale", "label: 4"),
    "precedent breaks a rule": (mutated("    label: 1\n", "    label: 2\n"), "contradicts hard rule 'seniority-reach'", "label: 2"),
    "precedent with an undeclared field": (
        mutated("Staff", "Staff").replace("popularity: 1.1}", "popularity: 1.1, salary: 90}", 1),
        "is not a declared candidate field",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_policy_check_rejects_malformed_policy_with_one_clear_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content, expected, needle = MALFORMED[case]
    path = tmp_path / "policy.md"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    assert main(["policy", "check", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith(f"stillroom: error: {path}")
    assert expected in lines[0]
    if needle is not None:
        assert f"{path}:{line_of(content, needle)}:" in lines[0]
    assert captured.out == ""


def test_policy_check_on_the_shipped_policy_prints_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", JOBS_POLICY]) == 0
    out = capsys.readouterr().out
    for expected in (
        "version: 1.",
        "sha256: ",
        "labels (4, relevant from 2)",
        "3 highly_relevant",
        "remote-only-member (max label 0)",
        "precedents (",
    ):
        assert expected in out


def test_policy_check_is_a_command_with_real_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text(mutated("id: no-relocation", "id: remote-only-member"), encoding="utf-8")
    ok = subprocess.run([sys.executable, "-m", "stillroom.cli", "policy", "check", JOBS_POLICY], capture_output=True, text=True)
    failed = subprocess.run([sys.executable, "-m", "stillroom.cli", "policy", "check", str(bad)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "duplicate id" in failed.stderr


def test_policy_diff_shows_changes_rule_by_rule_and_label_by_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = SHIPPED.replace('version: "1.0.0"', 'version: "1.1.0"').replace("request.seniority >= 2", "request.seniority >= 3")
    new = new.replace("name: somewhat_relevant", "name: stretch").replace("weight: 0.40", "weight: 0.45").replace("weight: 0.30", "weight: 0.25")
    path = tmp_path / "new.md"
    path.write_text(new, encoding="utf-8")
    assert main(["policy", "diff", JOBS_POLICY, str(path)]) == 0
    out = capsys.readouterr().out
    assert "version: '1.0.0' -> '1.1.0'" in out
    assert (
        "~ seniority-reach (max label 1): condition 'candidate.seniority - request.seniority >= 2' -> 'candidate.seniority - request.seniority >= 3'"
        in out
    )
    assert "~ 1 stretch: name 'somewhat_relevant' -> 'stretch'" in out
    assert "weight 0.4 -> 0.45" in out
    assert "remote-only-member" not in out  # unchanged rules are not listed


def test_policy_diff_of_identical_policies_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "diff", JOBS_POLICY, JOBS_POLICY]) == 0
    assert "no changes to the specification" in capsys.readouterr().out
