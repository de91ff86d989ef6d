"""Run the recipe on real public collections in the BEIR layout and print what it buys on each, with intervals.

    python benchmarks/real_data.py --collections DIR --out OUT [--only nfcorpus,arguana] [OVERRIDE ...]
    python benchmarks/real_data.py --ir-datasets --out OUT [--only nfcorpus,scifact] [OVERRIDE ...]

The collections are listed in ``benchmarks/real_data.yaml``: where each came
from, its licence, and the overrides it needs (how its qrels scores map onto
the policy's scale). Each is read from ``DIR/NAME``; ``code_search`` is built
there from the Python standard library when it is missing
(``benchmarks/code_search_collection.py``); the others are kept out of the
repository for their size and licences, and fetched by hand (the manifest says
from where). Each runs as ``stillroom run product=search data=beir
data.path=DIR/NAME`` with its overrides and the command line's, in
``OUT/NAME``. With ``--ir-datasets``, each collection the manifest names by its
ir_datasets id (``ir_datasets: beir/nfcorpus``) runs as ``data=ir_datasets
data.id=ID`` instead, read from ir_datasets' local copy (``IR_DATASETS_HOME``). The script prints one row per collection (BM25, zero-shot,
teacher, student and student_no_kd NDCG@10 on golden test with their 95%
intervals, the paired differences that decide, and the wall-clock time) and
writes the table to ``OUT/real_data.md`` with the run's date and commit.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "real_data.yaml"
MODELS = ("bm25", "zero_shot", "hybrid", "teacher_base", "teacher", "student", "student_no_kd")
DECIDING = (
    ("teacher", "zero_shot"),
    ("student", "zero_shot"),
    ("student", "bm25"),
    ("student", "hybrid"),
    ("student", "student_no_kd"),
)


def ensure_collection(name: str, spec: Mapping[str, Any], folder: Path) -> None:
    """Build a collection the manifest says how to build; any other must already be in its folder."""
    if (folder / "corpus.jsonl").is_file():
        return
    if spec.get("build"):
        subprocess.run([sys.executable, str(HERE / f"{spec['build']}.py"), "--out", str(folder)], check=True)
        return
    raise SystemExit(f"{folder}: no collection here. {name} comes from {spec['source']}")


class RunFailed(Exception):
    """A collection's run ended with an error: its exit status and the last line it wrote to stderr."""


def run_recipe(data: Sequence[str], run_dir: Path, overrides: Sequence[str]) -> float:
    """``stillroom run`` on one collection, named by ``data`` (``data=beir data.path=DIR`` or ``data=ir_datasets data.id=ID``)."""
    command = [
        sys.executable, "-m", "stillroom.cli", "run", "product=search", *data, *overrides,
        "logger=none", "trainer.progress_bar=false", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    (run_dir.mkdir(parents=True, exist_ok=True), (run_dir / "benchmark.log").write_text(done.stdout + done.stderr, encoding="utf-8"))
    # 3: a gate or the compliance check said no, after the report or (the policy gate) before it
    if done.returncode not in (0, 3) or not (run_dir / "report" / "report.json").is_file():
        last = (done.stderr.strip().splitlines() or ["(no error output)"])[-1]
        raise RunFailed(f"exit {done.returncode}: {last}")
    return time.perf_counter() - started


def figure(report: Mapping[str, Any], model: str, metric: str) -> str:
    entry = report["models"].get(model)
    if entry is None:
        return "—"
    low, high = entry["ci"][metric]
    return f"{entry['metrics'][metric]:.3f} [{low:.3f}, {high:.3f}]"


def comparison(report: Mapping[str, Any], a: str, b: str, metric: str) -> dict[str, Any] | None:
    return next((c for c in report["comparisons"] if (c["a"], c["b"], c["metric"]) == (a, b, metric)), None)


def difference(found: Mapping[str, Any] | None) -> str:
    if found is None:
        return "—"
    low, high = found["ci"]
    return f"{found['difference']:+.3f} [{low:+.3f}, {high:+.3f}] {found['verdict']}"


def row(name: str, report: Mapping[str, Any], seconds: float) -> list[str]:
    metric = report["primary_metric"]
    first_stage = report.get("first_stage") or {}
    recall = f"{first_stage['recall@k']:.3f}" if first_stage else "—"
    student, zero_shot = report["models"]["student"], report["models"]["zero_shot"]
    cost = f"{student['params'] / 1e6:.1f}M / {zero_shot['params'] / 1e6:.1f}M, {student['throughput_pairs_per_s']:,.0f}/s"
    cells = [name, f"{report['requests'].get('dev', 0)}/{report['requests']['test']}", recall]
    cells += [figure(report, m, metric) for m in MODELS]
    cells += [difference(comparison(report, a, b, metric)) for a, b in DECIDING]
    verdict = "ship" if report["verdict"]["ship"] else "do not ship"
    return [*cells, cost, verdict, f"{seconds / 60:.1f} min"]


def bars(reports: Mapping[str, Mapping[str, Any]], failed: Mapping[str, str]) -> list[str]:
    """Issue 30's bars, read from the reports: what holds and what does not."""

    def found(a: str, b: str) -> dict[str, dict[str, Any]]:
        return {name: c for name, r in reports.items() if (c := comparison(r, a, b, r["primary_metric"])) is not None}

    def count(comparisons: Mapping[str, Mapping[str, Any]], verdict: str) -> int:
        return sum(c["verdict"] == verdict for c in comparisons.values())

    teacher, student = found("teacher", "zero_shot"), found("student", "zero_shot")
    bm25, hybrid, distill = found("student", "bm25"), found("student", "hybrid"), found("student", "student_no_kd")
    shipped = {name for name, r in reports.items() if r["verdict"]["ship"]}
    checks = [
        ("every collection runs to its report", not failed),
        ("the student beats zero_shot on every collection (point estimate)", bool(student) and all(c["difference"] > 0 for c in student.values())),
        ("... with a resolved interval on at least four", count(student, "better") >= 4),
        (
            "the student beats bm25, resolved, on at least three where the verdict ships",
            sum(bm25[n]["verdict"] == "better" for n in shipped if n in bm25) >= 3,
        ),
        (
            "the student beats hybrid, resolved, on at least two where the verdict ships",
            sum(hybrid[n]["verdict"] == "better" for n in shipped if n in hybrid) >= 2,
        ),
        ("the student is never resolvably worse than bm25 or hybrid", count(bm25, "worse") + count(hybrid, "worse") == 0),
        ("the teacher is never resolvably worse than zero_shot", count(teacher, "worse") == 0),
        ("the teacher's gain over zero_shot is resolved on at least four", count(teacher, "better") >= 4),
        ("distillation's gain is positive on every collection", bool(distill) and all(c["difference"] > 0 for c in distill.values())),
    ]
    return [f"- {'holds' if held else 'DOES NOT HOLD'}: {text}" for text, held in checks]


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--collections", type=Path, help="the folder holding one folder per collection")
    where.add_argument("--ir-datasets", action="store_true", help="read each collection by its ir_datasets id, from IR_DATASETS_HOME")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", default="", help="comma-separated names from the manifest (default: all)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="the collections' list (default: benchmarks/real_data.yaml)")
    parser.add_argument("overrides", nargs="*", help="added to every run, after the collection's own")
    args = parser.parse_args()

    manifest = yaml.safe_load(args.manifest.read_text(encoding="utf-8"))["collections"]
    names = [n for n in args.only.split(",") if n] or list(manifest)
    unknown = sorted(set(names) - set(manifest))
    if unknown:
        parser.error(f"no collection {unknown[0]!r} in {args.manifest}; it lists {', '.join(manifest)}")
    if args.ir_datasets and (unnamed := [name for name in names if not manifest[name].get("ir_datasets")]):
        parser.error(f"no ir_datasets id for {', '.join(unnamed)} in {args.manifest}; --only the collections that have one")
    header = ["collection", "queries dev/test", "recall@k", *MODELS, *(f"{a} − {b}" for a, b in DECIDING)]
    header += ["student / zero_shot params, student pairs/s", "verdict", "time"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    reports: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    started = time.perf_counter()
    for name in names:
        spec = manifest[name]
        run_dir = args.out / name
        try:
            if args.ir_datasets:
                data = ["data=ir_datasets", f"data.id={spec['ir_datasets']}"]
            else:
                ensure_collection(name, spec, args.collections / name)
                data = ["data=beir", f"data.path={args.collections / name}"]
            seconds = run_recipe(data, run_dir, [*spec.get("overrides", []), *args.overrides])
        except (RunFailed, SystemExit) as error:
            failed[name] = str(error)
            lines.append(f"| {name} | failed: {str(error)[:300]} |")
        else:
            reports[name] = json.loads((run_dir / "report" / "report.json").read_text(encoding="utf-8"))
            lines.append("| " + " | ".join(row(name, reports[name], seconds)) + " |")
        print(lines[-1], flush=True)
    total = (time.perf_counter() - started) / 60
    only = [f"--only {args.only}"] if args.only else []
    source = "--ir-datasets" if args.ir_datasets else f"--collections {args.collections}"
    command = " ".join(["python benchmarks/real_data.py", source, f"--out {args.out}", *only, *args.overrides])
    sources = [f"- **{name}**: {manifest[name]['source']} Licence: {manifest[name]['licence']}" for name in names]
    text = "\n".join(
        [
            f"Measured {date.today()} at commit {commit()}: `{command}` ({total:.0f} min in all)",
            "",
            *lines,
            "",
            *bars(reports, failed),
            "",
            "Collections:",
            *sources,
        ]
    )
    (args.out / "real_data.md").write_text(text + "\n", encoding="utf-8")
    print("\n" + text)


if __name__ == "__main__":
    main()
