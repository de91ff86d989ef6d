"""What ``stillroom run`` prints last: the figures, the compliance check, then the verdict and how to use the student.

The console is where a run is read first, so the decision is not left in the report's file: its last lines say ship
or not and why, and give the command that scores with the exported student at its real path (or, when the student
does not ship, the first thing to try next).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stillroom.evaluation.report_words import comparison_table, compliance_line, score_command, verdicts
from stillroom.evaluation.verdict import verdict_line


def closing_lines(report: Mapping[str, Any], run_dir: Path, report_dir: Path) -> str:
    """The figures and comparisons, then where the report is, then the compliance line and the verdict, last."""
    metric = report["primary_metric"]
    verdict = report["verdict"]
    lines = [
        "",
        comparison_table(report),
        "",
        verdicts(report),
        "",
        f"student keeps {report[f'retained_{metric}']:.1%} of the teacher's {metric} at {report['speedup']:.1f}x its throughput",
        f"report: {report_dir}",
        f"run directory: {run_dir}",
        compliance_line(report),
        verdict_line(verdict).replace("**", ""),
    ]
    exported = report.get("exported")
    if exported and verdict["ship"]:
        lines.append(f"score with it: {score_command(report, str(run_dir.resolve() / exported['folder']))}")
    elif verdict["next"]:
        lines.append(f"try next: {verdict['next'][0]}")
    return "\n".join(lines)
