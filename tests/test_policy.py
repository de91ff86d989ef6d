"""The policy loader and the policy model: the shipped jobs policy and malformed ones."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stillroom.config.resources import resolve_file
from stillroom.errors import StillroomError
from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.policy_markdown import parse_policy
from stillroom.policy.source import load_policy

JOBS_POLICY = "stillroom.products.jobs:policy.md"


@pytest.fixture(scope="module")
def policy():
    return load_policy(JOBS_POLICY, get_plugin_manager())


def test_shipped_jobs_policy_loads_with_its_sha256(policy) -> None:
    path = resolve_file(JOBS_POLICY, "policy")
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
    text = resolve_file(JOBS_POLICY, "policy").read_text()
    evil = text.replace(
        'condition: candidate.seniority - request.seniority >= 2',
        'condition: __import__("os").system("touch pwned")',
    )
    path = tmp_path / "policy.md"
    path.write_text(evil)
    with pytest.raises(StillroomError, match="unknown name '__import__'"):
        parse_policy(path)
