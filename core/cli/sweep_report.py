"""``stillroom sweep-report DIR``: a Hydra multirun folder as one table and one quality-against-throughput plot.

Each job of a multirun writes its ``report/report.json`` and Hydra's
``.hydra/overrides.yaml`` in its own folder; a sweep is worth running only
if someone compares the jobs afterwards. Jobs are ranked, and the Pareto front
(the jobs no other job beats on both quality and throughput) is drawn, on each
job's *objective*: a figure on golden dev (by default the student's NDCG@10),
because a choice made on test makes every test figure after it optimistic. The
test figure of the same metric stands beside it, for reading, not choosing.

Jobs that differ only in their ``seed`` are one setting run several times:
the report then adds each setting's mean and standard deviation across seeds
of every figure, so that a difference between settings can be read against
the seed's own noise (``stillroom run -m seed=1,2,3``).
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stillroom.errors import GATE_FAILED_FILE, StillroomError
from stillroom.stages import report as report_stage

REPORT = Path(report_stage.NAME) / report_stage.JSON.file
"""Where each job's report lies in its run folder."""
OUTPUTS = ("sweep.md", "sweep.csv", "sweep.png")
SEEDS_CSV = "sweep_seeds.csv"


@dataclass(frozen=True)
class SweepJob:
    """One job of the sweep, as its report tells it; ``dev`` is ``None`` for a job that wrote no report."""

    name: str
    overrides: tuple[str, ...]
    params: int | None = None
    throughput: float | None = None
    dev: float | None = None
    """The job's objective: the figure its sweeper optimised, on golden dev."""
    test: float | None = None
    """The same model's same metric on golden test: reported beside, never used to choose."""
    retained: float | None = None
    figures: Mapping[str, float] = field(default_factory=dict)
    """Every figure worth averaging over seeds, by column name."""
    failure: str | None = None
    """Why a job wrote no report, when a gate stopped it (from its ``gate_failed.json``)."""

    @property
    def finished(self) -> bool:
        return self.dev is not None and self.throughput is not None

    @property
    def setting(self) -> tuple[str, ...]:
        """The job's overrides without its seed: jobs with the same setting differ only by seed."""
        return tuple(o for o in self.overrides if not o.startswith("seed="))


def _job_order(folder: Path) -> tuple[int, str]:
    number = folder.name.split("_", 1)[0]
    return (int(number) if number.isdigit() else 1 << 30, folder.name)


def job_from_report(name: str, overrides: tuple[str, ...], report: Mapping[str, Any]) -> SweepJob:
    """A finished job: its objective (dev), the same figure on test, the student's size and speed, every model's test figure."""
    goal = report["objective"]
    metric = goal["metric"]
    model = report["models"][goal["model"]]
    student = report["models"]["student"]
    retained = report.get(f"retained_{report['primary_metric']}")
    figures = {f"{goal['model']} {metric} (dev)": goal["value"]}
    figures.update({f"{m} {metric} (test)": r["metrics"][metric] for m, r in report["models"].items() if metric in r["metrics"]})
    figures.update({"student pairs/s": student.get("throughput_pairs_per_s"), "retained": retained})
    return SweepJob(
        name,
        overrides,
        params=int(student["params"]),
        throughput=student.get("throughput_pairs_per_s"),
        dev=None if goal["value"] is None else float(goal["value"]),
        test=model["metrics"].get(metric),
        retained=retained,
        figures={key: float(value) for key, value in figures.items() if value is not None},
    )


def read_sweep(folder: Path) -> list[SweepJob]:
    """The jobs of the multirun in ``folder``, in Hydra's job order; a job folder is one with ``.hydra/overrides.yaml``."""
    if not folder.is_dir():
        raise StillroomError("expected a multirun folder (the hydra.sweep.dir of a `stillroom run -m`)", where=str(folder))
    jobs = []
    for job_dir in sorted((d for d in folder.iterdir() if (d / ".hydra" / "overrides.yaml").is_file()), key=_job_order):
        overrides = tuple(yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text(encoding="utf-8")) or ())
        report_path = job_dir / REPORT
        if not report_path.is_file():
            failed = job_dir / GATE_FAILED_FILE
            reason = json.loads(failed.read_text(encoding="utf-8")) if failed.is_file() else None
            jobs.append(SweepJob(job_dir.name, overrides, failure=f"stopped in {reason['stage']}: {reason['message']}" if reason else None))
            continue
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
            if report.get("verdict", {}).get("compliance_failed"):  # its figures are no candidate for the front
                jobs.append(SweepJob(job_dir.name, overrides, failure=f"failed compliance: {report['compliance']['reason']}"))
                continue
            jobs.append(job_from_report(job_dir.name, overrides, report))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise StillroomError(f"expected a stillroom report with an objective on golden dev and the student's figures ({exc!r})", where=str(report_path)) from None
    if not jobs:
        raise StillroomError("holds no multirun jobs (folders with .hydra/overrides.yaml)", where=str(folder))
    return jobs


def pareto_front(jobs: list[SweepJob]) -> list[SweepJob]:
    """The finished jobs no other finished job matches or beats on both the dev objective and throughput, fastest first."""
    done = [job for job in jobs if job.finished]

    def dominated(job: SweepJob) -> bool:
        return any(
            other.dev >= job.dev and other.throughput >= job.throughput and (other.dev > job.dev or other.throughput > job.throughput)
            for other in done
        )

    return sorted((job for job in done if not dominated(job)), key=lambda job: -job.throughput)


def ranked(jobs: list[SweepJob]) -> list[SweepJob]:
    """Finished jobs best objective first, then the jobs without a report in their order."""
    return sorted((j for j in jobs if j.finished), key=lambda j: -j.dev) + [j for j in jobs if not j.finished]


def common_overrides(jobs: list[SweepJob]) -> list[str]:
    """The overrides every job was given: the sweep's setting, not what tells its jobs apart."""
    shared = set.intersection(*(set(job.overrides) for job in jobs)) if len(jobs) > 1 else set()
    return [override for override in jobs[0].overrides if override in shared] if jobs else []


def _objective_name(jobs: list[SweepJob]) -> str:
    return next((key for job in jobs for key in job.figures if key.endswith("(dev)")), "objective (dev)")


def columns(jobs: list[SweepJob]) -> list[str]:
    objective = _objective_name(jobs)
    return ["rank", "job", "overrides", "params", "pairs/s", objective, objective.replace("(dev)", "(test)"), "retained", "pareto"]


def _cells(rank: int | None, job: SweepJob, common: list[str], on_front: bool, readable: bool) -> list[str]:
    """A job's row: numbers as a person reads them (``readable``, for Markdown) or as a program does (CSV)."""

    def number(value: float | None, fmt: str, raw: str) -> str:
        return "" if value is None else format(value, fmt if readable else raw)

    return [
        "" if rank is None else str(rank),
        job.name,
        " ".join(override for override in job.overrides if override not in common),
        number(job.params, ",", "d"),
        number(job.throughput, ",.0f", ".1f"),
        number(job.dev, ".4f", ".4f"),
        number(job.test, ".4f", ".4f"),
        number(job.retained, ".1%", ".4f"),
        "yes" if on_front else ("" if job.finished else ("gate failed" if job.failure else "no report")),
    ]


def seed_groups(jobs: list[SweepJob]) -> dict[tuple[str, ...], list[SweepJob]]:
    """Finished jobs by setting, for the settings run with more than one seed."""
    groups: dict[tuple[str, ...], list[SweepJob]] = {}
    for job in jobs:
        if job.finished:
            groups.setdefault(job.setting, []).append(job)
    return {setting: group for setting, group in groups.items() if len(group) > 1}


def seeds_table(jobs: list[SweepJob], common: list[str]) -> tuple[list[str], list[list[str]]]:
    """Per setting run with several seeds: each figure's mean and standard deviation across them (header, rows)."""
    groups = seed_groups(jobs)
    figures = list(dict.fromkeys(key for group in groups.values() for job in group for key in job.figures))
    header = ["setting", "seeds", *figures]
    rows = []
    for setting, group in groups.items():
        cells = [" ".join(o for o in setting if o not in common) or "(every job)", str(len(group))]
        for key in figures:
            values = [job.figures[key] for job in group if key in job.figures]
            spec = ",.0f" if "pairs/s" in key else ".4f"
            cells.append(f"{statistics.mean(values):{spec}} ± {statistics.stdev(values):{spec}}" if len(values) > 1 else "")
        rows.append(cells)
    return header, rows


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") or " " for cell in row) + " |" for row in rows]


def write_sweep_report(folder: Path, jobs: list[SweepJob]) -> list[Path]:
    """``sweep.md``, ``sweep.csv`` and ``sweep.png`` in ``folder`` (and ``sweep_seeds.csv`` when settings ran with several seeds)."""
    front = pareto_front(jobs)
    on_front = {job.name for job in front}
    common = common_overrides(jobs)
    order = ranked(jobs)
    rows = [(index + 1 if job.finished else None, job) for index, job in enumerate(order)]
    with (folder / "sweep.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns(jobs))
        writer.writerows(_cells(rank, job, common, job.name in on_front, readable=False) for rank, job in rows)
    table = _markdown_table(columns(jobs), [_cells(rank, job, common, job.name in on_front, readable=True) for rank, job in rows])
    names = ", ".join(job.name for job in front) or "none"
    objective = _objective_name(jobs)
    summary = (
        f"{len(jobs)} jobs, {sum(job.finished for job in jobs)} with a report, ranked by **{objective}**, the objective the sweep "
        f"optimised; the test figure beside it is for reading, not choosing. On the Pareto front (dev objective against "
        f"throughput): {names}."
    )
    if common:
        summary += f" Every job had {' '.join(f'`{o}`' for o in common)}; the table shows what set each apart."
    for job in jobs:
        if job.failure:
            own = " ".join(o for o in job.overrides if o not in common)
            summary += f"\n\nJob {job.name} ({own}) {job.failure}"
    written = [folder / name for name in OUTPUTS]
    seeds = ""
    header, seed_rows = seeds_table(jobs, common)
    if seed_rows:
        with (folder / SEEDS_CSV).open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([header, *seed_rows])
        seeds = "\n\n## Across seeds (mean ± standard deviation)\n\n" + "\n".join(_markdown_table(header, seed_rows))
        written.append(folder / SEEDS_CSV)
    (folder / "sweep.md").write_text(
        f"# Sweep: {folder}\n\n{summary}\n\n" + "\n".join(table) + seeds + "\n\n![quality against throughput](sweep.png)\n", encoding="utf-8"
    )
    _plot(folder / "sweep.png", jobs, front, objective)
    return written


def _plot(path: Path, jobs: list[SweepJob], front: list[SweepJob], objective: str) -> None:
    import matplotlib.pyplot as plt

    from stillroom.evaluation.report_plots import log_throughput_axis  # selects matplotlib's Agg backend

    done = [job for job in jobs if job.finished]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.scatter([j.throughput for j in done], [j.dev for j in done], color="tab:gray", label="job")
    axes.plot([j.throughput for j in front], [j.dev for j in front], "o-", color="tab:red", label="Pareto front")
    for job in done:
        axes.annotate(job.name, (job.throughput, job.dev), textcoords="offset points", xytext=(4, 4), fontsize=8)
    log_throughput_axis(axes, [job.throughput for job in done])
    axes.set_xlabel("student throughput (pairs/s, log scale)")
    axes.set_ylabel(objective)
    axes.set_title("Quality on golden dev against throughput, one point per job")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
