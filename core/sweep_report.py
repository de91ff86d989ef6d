"""``stillroom sweep-report DIR``: a Hydra multirun folder as one table and one quality-against-throughput plot.

Each job of a multirun writes its ``report.json`` and Hydra's
``.hydra/overrides.yaml`` in its own folder; a sweep is worth running only
if someone compares the jobs afterwards. The table (Markdown and CSV) lists each
job's overrides (those not every job shares), the student's size, throughput, NDCG@10 and the share of the
teacher's NDCG@10 it keeps; the plot puts NDCG@10 against throughput and marks
the Pareto front, the jobs no other job beats on both.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from stillroom.errors import StillroomError
from stillroom.report import PRIMARY_METRIC

REPORT = "report.json"
OUTPUTS = ("sweep.md", "sweep.csv", "sweep.png")


@dataclass(frozen=True)
class SweepJob:
    """One job of the sweep, as its report tells it; ``ndcg`` is ``None`` for a job that wrote no report."""

    name: str
    overrides: tuple[str, ...]
    params: int | None = None
    throughput: float | None = None
    ndcg: float | None = None
    retained: float | None = None

    @property
    def finished(self) -> bool:
        return self.ndcg is not None and self.throughput is not None


def _job_order(folder: Path) -> tuple[int, str]:
    number = folder.name.split("_", 1)[0]
    return (int(number) if number.isdigit() else 1 << 30, folder.name)


def read_sweep(folder: Path) -> list[SweepJob]:
    """The jobs of the multirun in ``folder``, in Hydra's job order; a job folder is one with ``.hydra/overrides.yaml``."""
    if not folder.is_dir():
        raise StillroomError("expected a multirun folder (the hydra.sweep.dir of a `stillroom run -m`)", where=str(folder))
    jobs = []
    for job_dir in sorted((d for d in folder.iterdir() if (d / ".hydra" / "overrides.yaml").is_file()), key=_job_order):
        overrides = tuple(yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text(encoding="utf-8")) or ())
        report_path = job_dir / REPORT
        if not report_path.is_file():
            jobs.append(SweepJob(job_dir.name, overrides))
            continue
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
            student = report["models"]["student"]
            jobs.append(
                SweepJob(
                    job_dir.name,
                    overrides,
                    params=int(student["params"]),
                    throughput=student.get("throughput_pairs_per_s"),
                    ndcg=float(student["metrics"][PRIMARY_METRIC]),
                    retained=report.get(f"retained_{PRIMARY_METRIC}"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise StillroomError(f"expected a stillroom report with the student's {PRIMARY_METRIC} ({exc!r})", where=str(report_path)) from None
    if not jobs:
        raise StillroomError("holds no multirun jobs (folders with .hydra/overrides.yaml)", where=str(folder))
    return jobs


def pareto_front(jobs: list[SweepJob]) -> list[SweepJob]:
    """The finished jobs no other finished job matches or beats on both NDCG@10 and throughput, fastest first."""
    done = [job for job in jobs if job.finished]

    def dominated(job: SweepJob) -> bool:
        return any(
            other.ndcg >= job.ndcg and other.throughput >= job.throughput and (other.ndcg > job.ndcg or other.throughput > job.throughput)
            for other in done
        )

    return sorted((job for job in done if not dominated(job)), key=lambda job: -job.throughput)


COLUMNS = ["job", "overrides", "params", "pairs/s", PRIMARY_METRIC, "retained", "pareto"]


def common_overrides(jobs: list[SweepJob]) -> list[str]:
    """The overrides every job was given: the sweep's setting, not what tells its jobs apart."""
    shared = set.intersection(*(set(job.overrides) for job in jobs)) if len(jobs) > 1 else set()
    return [override for override in jobs[0].overrides if override in shared] if jobs else []


def _cells(job: SweepJob, common: list[str], on_front: bool, readable: bool) -> list[str]:
    """A job's row: numbers as a person reads them (``readable``, for Markdown) or as a program does (CSV)."""

    def number(value: float | None, fmt: str, raw: str) -> str:
        return "" if value is None else format(value, fmt if readable else raw)

    return [
        job.name,
        " ".join(override for override in job.overrides if override not in common),
        number(job.params, ",", "d"),
        number(job.throughput, ",.0f", ".1f"),
        number(job.ndcg, ".4f", ".4f"),
        number(job.retained, ".1%", ".4f"),
        "yes" if on_front else ("" if job.finished else "no report"),
    ]


def write_sweep_report(folder: Path, jobs: list[SweepJob]) -> list[Path]:
    """``sweep.md``, ``sweep.csv`` and ``sweep.png`` in ``folder``."""
    front = pareto_front(jobs)
    on_front = {job.name for job in front}
    common = common_overrides(jobs)
    with (folder / "sweep.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(_cells(job, common, job.name in on_front, readable=False) for job in jobs)
    table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for job in jobs:
        cells = _cells(job, common, job.name in on_front, readable=True)
        table.append("| " + " | ".join(cell.replace("|", "\\|") or " " for cell in cells) + " |")
    names = ", ".join(job.name for job in front) or "none"
    summary = f"{len(jobs)} jobs, {sum(job.finished for job in jobs)} with a report; on the Pareto front: {names}."
    if common:
        summary += f" Every job had {' '.join(f'`{o}`' for o in common)}; the table shows what set each apart."
    (folder / "sweep.md").write_text(f"# Sweep: {folder}\n\n{summary}\n\n" + "\n".join(table) + "\n\n![quality against throughput](sweep.png)\n")
    _plot(folder / "sweep.png", jobs, front)
    return [folder / name for name in OUTPUTS]


def _plot(path: Path, jobs: list[SweepJob], front: list[SweepJob]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [job for job in jobs if job.finished]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.scatter([j.throughput for j in done], [j.ndcg for j in done], color="tab:gray", label="job")
    axes.plot([j.throughput for j in front], [j.ndcg for j in front], "o-", color="tab:red", label="Pareto front")
    for job in done:
        axes.annotate(job.name, (job.throughput, job.ndcg), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("student throughput (pairs/s, log scale)")
    axes.set_ylabel(f"student {PRIMARY_METRIC}")
    axes.set_title("Quality against throughput, one point per job")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
