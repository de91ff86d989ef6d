"""What ``stillroom run`` prints last: the figures, the compliance check, then the verdict and how to use the student.

The console is where a run is read first, so the decision is not left in the report's file: its last lines say ship
or not and why (when not, the first thing to try next), and end with the command that scores with the exported
student at its real path.
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
    if not verdict["ship"] and verdict["next"]:
        lines.append(f"try next: {verdict['next'][0]}")
    if exported := report.get("exported"):
        command = score_command(report, str(run_dir.resolve() / exported["folder"]))
        lines.append(f"score with it: {command}" if verdict["ship"] else f"score with it (to inspect it; the verdict says not to ship it): {command}")
    return "\n".join(lines)
