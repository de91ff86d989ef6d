"""The policy loader and the policy model: the shipped jobs policy and malformed ones."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stillroom.errors import StillroomError
from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.policy_markdown import parse_policy
from stillroom.policy_source import load_policy, resolve_policy_path

JOBS_POLICY = "stillroom.products.jobs:policy.md"


@pytest.fixture(scope="module")
def policy():
    return load_policy(JOBS_POLICY, get_plugin_manager())


def test_shipped_jobs_policy_loads_with_its_sha256(policy) -> None:
    path = resolve_policy_path(JOBS_POLICY)
    assert policy.product == "jobs"
    assert policy.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [label.value for label in policy.labels] == [0, 1, 2, 3]
    assert abs(sum(policy.dimension_weights().values()) - 1.0) < 1e-9
    assert {rule.id for rule in policy.rules} == {"remote-only-member", "no-relocation", "seniority-reach"}
    assert len(policy.precedents) >= 5
    assert "Hard rules" in policy.body


def test_rules_apply_to_fields_and_cap_the_label(policy) -> None:
    member = {"remote_only": True, "city": "Berlin", "open_to_relocation": False, "seniority": 1}
    onsite_here = {"workplace": "onsite", "city": "Berlin", "seniority": 1}
    remote = {"workplace": "remote", "city": "Paris", "seniority": 3}
    assert [r.id for r in policy.rules_broken(member, onsite_here)] == ["remote-only-member"]
    assert policy.cap(3, member, onsite_here) == 0
    assert [r.id for r in policy.rules_broken(member, remote)] == ["seniority-reach"]
    assert policy.cap(3, member, remote) == 1
    assert policy.cap(1, {**member, "remote_only": False}, {**onsite_here, "seniority": 2}) == 1


def test_rules_are_not_executed_as_python(tmp_path: Path) -> None:
    text = resolve_policy_path(JOBS_POLICY).read_text()
    evil = text.replace(
        'condition: candidate.seniority - request.seniority >= 2',
        'condition: __import__("os").system("touch pwned")',
    )
    path = tmp_path / "policy.md"
    path.write_text(evil)
    with pytest.raises(StillroomError, match="unknown name '__import__'"):
        parse_policy(path)


MALFORMED = {
    "empty file": ("", "empty"),
    "no front matter": ("# Just prose\n", "front matter"),
    "unclosed front matter": ("---\nproduct: jobs\n", "not closed"),
    "bad yaml": ("---\nproduct: [jobs\n---\n", "not valid YAML"),
    "missing label scale": ("---\nproduct: jobs\nversion: 1\ndimensions: [{name: a, weight: 1}]\n---\n", "labels"),
    "labels out of order": (
        "---\nproduct: jobs\nversion: 1\nlabels: [{value: 1, name: a}, {value: 0, name: b}]\ndimensions: [{name: a, weight: 1}]\n---\n",
        "values 0, 1, 2",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_policies_fail_with_file_and_field(case: str, tmp_path: Path) -> None:
    text, expected = MALFORMED[case]
    path = tmp_path / "policy.md"
    path.write_text(text)
    with pytest.raises(StillroomError) as excinfo:
        parse_policy(path)
    assert str(path) in str(excinfo.value)
    assert expected in str(excinfo.value)


def _shipped_with(tmp_path: Path, old: str, new: str) -> Path:
    text = resolve_policy_path(JOBS_POLICY).read_text()
    assert old in text
    path = tmp_path / "policy.md"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("id: no-relocation", "id: remote-only-member", "duplicate rule id"),
        ("candidate.seniority - request.seniority >= 2", "candidate.salary > 2", "unknown field candidate.salary"),
        ("    label: 3\n", "    label: 7\n", "precedents[0].label"),
        ("    max_label: 1\n", "    max_label: 9\n", "rules[2].max_label"),
        ("weight: 0.40", "weight: heavy", "dimensions[0].weight"),
    ],
)
def test_invalid_fields_are_named(tmp_path: Path, old: str, new: str, expected: str) -> None:
    with pytest.raises(StillroomError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        parse_policy(_shipped_with(tmp_path, old, new))


def test_missing_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StillroomError, match="does not exist"):
        resolve_policy_path(str(tmp_path / "nope.md"))
