"""`stillroom policy check` and `stillroom policy diff`: a valid policy, malformed ones, and a review diff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stillroom.cli import main
from stillroom.config.resources import resolve_file

JOBS_POLICY = "stillroom.products.jobs:policy.md"
SHIPPED = resolve_file(JOBS_POLICY, "policy").read_text(encoding="utf-8")
VERSION_LINE = next(line for line in SHIPPED.splitlines() if line.startswith("version: "))


def mutated(old: str, new: str) -> str:
    assert old in SHIPPED, f"the shipped policy no longer contains {old!r}"
    return SHIPPED.replace(old, new, 1)


def changed_line(text: str) -> int:
    """The line of ``text`` where it first differs from the shipped policy: where the error must point."""
    first = next(i for i, (a, b) in enumerate(zip(SHIPPED, text, strict=False)) if a != b)
    return SHIPPED.count("\n", 0, first) + 1


# name: (file content, words the error must contain, whether it must name the line that was changed)
MALFORMED: dict[str, tuple[str | bytes, str, bool]] = {
    "empty file": ("", "policy file is empty", False),
    "no front matter": ("# Jobs policy\n\nProse only.\n", "expected YAML front matter", False),
    "front matter not closed": ("---\nproduct: jobs\nversion: '1'\n", "not closed", False),
    # Each kind of YAML error points at the line to fix: where the broken construct starts, not where the reader gave up.
    "unclosed bracket": (mutated("relevant_from: 2", "relevant_from: [2"), "not valid YAML: while parsing a flow sequence that starts on this line", True),
    "key without its colon": (mutated("relevant_from: 2", "relevant_from 2"), "could not find expected ':'", True),
    "unclosed quote": (mutated('version: "1.2.0"', 'version: "1.2.0'), "the quoted value that starts on this line runs on to line", True),
    "indented key": (mutated("relevant_from: 2", "  relevant_from: 2"), "not valid YAML: expected <block end>", True),
    "tab indent": (mutated("relevant_from: 2", "\trelevant_from: 2"), "found character '\\t' that cannot start any token", True),
    "undefined alias": (mutated("relevant_from: 2", "relevant_from: *two"), "found undefined alias 'two'", True),
    "python tag": (mutated("relevant_from: 2", "relevant_from: !!python/object:os.system 2"), "could not determine a constructor", True),
    "misindented list item": (mutated("    name: not_relevant\n", "   name: not_relevant\n"), "not valid YAML", True),
    "not utf-8": (b"---\nproduct: j\xffobs\n---\n", "not UTF-8", False),
    "missing label scale": (mutated("\nlabels:\n", "\nscale:\n"), "scale: is not a policy field", True),
    "labels out of order": (mutated("  - value: 0\n", "  - value: 5\n"), "ordinal scale with values 0, 1, 2", False),
    "unquoted version": (mutated(VERSION_LINE, "version: 1.0"), 'expected a quoted string such as "1.0.0"', True),
    "negative weight": (mutated("weight: 0.40", "weight: -0.4"), "dimensions[0].weight: input should be greater than 0", True),
    "typo in a key": (mutated("    max_label: 1\n", "    max_lable: 1\n"), "did you mean 'max_label'", True),
    "unknown rule field": (mutated("candidate.seniority - request", "candidate.level - request"), "unknown field candidate.level", True),
    "python in a rule": (
        mutated("candidate.seniority - request", "__import__('os').getpid() + candidate.seniority - request"),
        "unknown name '__import__'",
        True,
    ),
    "rule syntax error": (mutated("request.seniority >= 2", "request.seniority >=> 2"), "not a valid expression", True),
    "duplicate rule id": (mutated("id: no-relocation", "id: remote-only-member"), "rules[1].id: duplicate id 'remote-only-member'", True),
    "rule cap off the scale": (
        mutated("    max_label: 1\n", "    max_label: 9\n"),
        "rules[2].max_label: expected a label on the scale [0, 1, 2, 3], got 9",
        True,
    ),
    "precedent label off the scale": (mutated("    label: 1\n", "    label: 4\n"), "precedents[2].label: expected a label on the scale", True),
    "precedent breaks a rule": (mutated("    label: 1\n", "    label: 2\n"), "contradicts hard rule 'seniority-reach'", True),
    "private attribute in a rule": (
        mutated("candidate.seniority - request.seniority >= 2", "request.city.__class__ == 1"),
        "private attribute '__class__'",
        True,
    ),
    "subscript in a rule": (mutated("candidate.seniority - request.seniority >= 2", 'request["level"] >= 2'), "write request.FIELD", True),
    "precedent value of the wrong type": (
        mutated("seniority: 4, skills: [JavaScript", 'seniority: "four", skills: [JavaScript'),
        "rule 'seniority-reach' cannot be evaluated on it: TypeError",
        False,
    ),
    "boolean weight": (mutated("weight: 0.40", "weight: true"), "dimensions[0].weight: input should be a valid number", True),
    "precedent with an undeclared field": (mutated("popularity: 1.1}", "popularity: 1.1, salary: 90}"), "is not a declared candidate field", True),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_policy_check_rejects_malformed_policy_with_one_clear_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content, expected, names_line = MALFORMED[case]
    path = tmp_path / "policy.md"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    assert main(["policy", "check", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith(f"stillroom: error: {path}")
    assert expected in lines[0]
    if names_line:
        assert f"{path}:{changed_line(content)}:" in lines[0]
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


@pytest.mark.slow
@pytest.mark.subprocess
def test_policy_check_is_a_command_with_real_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text(mutated("id: no-relocation", "id: remote-only-member"), encoding="utf-8")
    ok = subprocess.run([sys.executable, "-m", "stillroom.cli", "policy", "check", JOBS_POLICY], capture_output=True, text=True)
    failed = subprocess.run([sys.executable, "-m", "stillroom.cli", "policy", "check", str(bad)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "duplicate id" in failed.stderr


def test_policy_diff_shows_changes_rule_by_rule_and_label_by_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = SHIPPED.replace(VERSION_LINE, 'version: "9.0.0"').replace("request.seniority >= 2", "request.seniority >= 3")
    new = new.replace("name: somewhat_relevant", "name: stretch").replace("weight: 0.40", "weight: 0.45").replace("weight: 0.30", "weight: 0.25")
    path = tmp_path / "new.md"
    path.write_text(new, encoding="utf-8")
    assert main(["policy", "diff", JOBS_POLICY, str(path)]) == 0
    out = capsys.readouterr().out
    assert f"version: {VERSION_LINE.split(': ')[1].strip(chr(34))!r} -> '9.0.0'" in out
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
