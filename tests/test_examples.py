"""examples/: the README quickstart's files, run as the README runs them (with tiny models), and a file without the
fields the rules read, whose compliance check must say "not checked" and never "passed"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillroom.cli import main
from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUICKSTART = ("product=jobs", f"product.policy={EXAMPLES / 'my_policy.md'}", "data=jsonl")


def test_the_example_policy_is_valid_and_its_rules_read_fields_every_example_pair_carries(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(EXAMPLES / "my_policy.md")]) == 0
    assert "rules (3" in capsys.readouterr().out
    rows = [json.loads(line) for line in (EXAMPLES / "my_pairs.jsonl").read_text().splitlines()]
    read = {"request": {"seniority", "city", "remote_only", "open_to_relocation"}, "candidate": {"seniority", "city", "workplace"}}
    assert all(read[side] <= set(row[side]) for row in rows for side in read)
    assert sum("label" in row for row in rows) > 400 and any("label" not in row for row in rows)  # golden pairs and a pool


def _run(capsys: pytest.CaptureFixture[str], data: Path, run_dir: Path) -> tuple[int, list[str]]:
    """``stillroom run`` as the README's quickstart runs it, with tiny models; its exit status and what it printed."""
    capsys.readouterr()
    status = run_cli(["run", *QUICKSTART, f"data.path={data}", "experiment=smoke", "compliance.mode=warn", f"hydra.run.dir={run_dir}", "logger=none"])
    return status, capsys.readouterr().out.splitlines()


@pytest.mark.slow
def test_the_quickstart_on_the_examples_names_the_rules_it_checked_and_a_file_without_fields_is_not_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "mine"
    status, lines = _run(capsys, EXAMPLES / "my_pairs.jsonl", run_dir)
    assert status in (0, 3)  # 3: the tiny student may fail the check (compliance.mode=warn exports it anyway)
    markdown = (run_dir / "report" / "report.md").read_text()
    assert "Checked against the hard rules `remote-only-member`, `no-relocation`, `seniority-reach`" in markdown
    [compliance] = [line for line in lines[-4:] if line.startswith("compliance: ")]
    assert compliance.startswith(("compliance: passed on rules remote-only-member, no-relocation, seniority-reach",
                                  "compliance: FAILED on rules remote-only-member, no-relocation, seniority-reach"))

    bare = tmp_path / "texts_and_labels.jsonl"
    rows = [json.loads(line) for line in (EXAMPLES / "my_pairs.jsonl").read_text().splitlines()]
    bare.write_text("".join(json.dumps({k: v for k, v in row.items() if k not in ("request", "candidate")}) + "\n" for row in rows))
    unchecked_dir = tmp_path / "bare"
    status, lines = _run(capsys, bare, unchecked_dir)
    assert status == 0
    [compliance] = [line for line in lines[-4:] if line.startswith("compliance: ")]
    [verdict] = [line for line in lines[-4:] if line.startswith("Verdict: ")]
    assert compliance.startswith("compliance: not checked: the data lacks the fields every hard rule reads (remote-only-member reads ")
    assert "not checked" in verdict and "passes" not in verdict and "rule-breaking" not in verdict
    report = json.loads((unchecked_dir / "report" / "report.json").read_text())
    assert report["compliance"]["checked"] is False and report["compliance"]["passed"] is None
    assert all("violation_rate@10" not in model["metrics"] for model in report["models"].values())
    markdown = (unchecked_dir / "report" / "report.md").read_text()
    assert "was **not checked**" in markdown.splitlines()[2] and "passes the compliance check" not in markdown
