"""Every student on the jobs recipe, compared in one table against the same teacher on the same data.

    python benchmarks/distill.py [--out DIR] [--students small,small+prune,narrow,two_tower,late_interaction,scratch] [hydra overrides]

The recipe runs once with the first student (``DIR/small``). Each other
student then runs in a copy of that run directory, so it reuses the same
world, teacher and soft labels and only its own stages run (``small+prune`` is
``small`` with ``prune.enabled=true``). At the end every model is loaded into this one
process and timed on the same golden-test batches in interleaved rounds (as
the evaluate stage times them), and one table is printed: params, pairs per
second, NDCG@10 on golden test, retained ratio and speedup against the teacher.
Students that cache candidates (two-tower, late interaction) are timed as they serve: candidates cached.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_module

from stillroom.artifacts import ArtifactStore
from stillroom.config.schema import validate_config
from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy.source import load_policy
from stillroom.recipe.job import REPORT, run_job
from stillroom.recipe.run import run_context
from stillroom.stages import evaluate
from stillroom.training.scoring import Timed, measure_throughputs

SHARED_STAGES = ("prepare", "finetune", "gate", "label", "distill", "distill_no_kd")
"""What a student's run copies from the default run; a changed student retrains its own stages anyway."""


def overrides_for(student: str) -> list[str]:
    name, _, extra = student.partition("+")
    return [f"student={name}", *(["prune.enabled=true"] if extra == "prune" else [])]


def run_student(out: Path, base: Path, student: str, common: list[str]) -> tuple[Path, dict[str, Any]]:
    run_dir = out / student
    if run_dir != base and not run_dir.exists():
        run_dir.mkdir(parents=True)
        for stage in SHARED_STAGES:
            if (base / stage).exists():
                shutil.copytree(base / stage, run_dir / stage)
    with initialize_config_module(config_module="stillroom.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*common, *overrides_for(student)])
    run_job(cfg, run_dir)
    return run_dir, validate_config(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmark_runs/distill"))
    parser.add_argument("--students", default="small,small+prune,narrow,two_tower,late_interaction,scratch")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run (e.g. seed=3)")
    args = parser.parse_args()
    common = ["product=jobs", "logger=none", "trainer.progress_bar=false", *args.overrides]
    students = args.students.split(",")
    base = args.out / students[0]

    runs = {student: run_student(args.out, base, student, common) for student in students}
    plugins = get_plugin_manager()
    timed: dict[str, Timed] = {}
    rows: dict[str, dict[str, Any]] = {}
    for student, (run_dir, config) in runs.items():
        policy = load_policy(config["product"]["policy"], plugins)
        ctx = run_context(config, ArtifactStore(run_dir), policy, plugins)
        test = ctx.pairs("test")
        batch_size = int(config["evaluator"]["batch_size"])
        models = {student: "student"} if timed else {"teacher": "teacher", student: "student"}
        report = ctx.io.read_json(REPORT)
        for name, trained in models.items():
            model = ctx.load_model(trained)
            timed[name] = Timed(model, evaluate.throughput_batches(model, test, batch_size, int(config["evaluator"]["throughput_pairs"])))
            result = report["models"][trained]
            rows[name] = {"params": result["params"], "ndcg@10": result["metrics"]["ndcg@10"], "cached": bool(result.get("candidates_cached"))}
    torch.set_num_threads(int(runs[students[0]][1]["trainer"]["num_threads"]))
    throughput = measure_throughputs(timed, rounds=3, trainer_config=runs[students[0]][1]["trainer"], slice_seconds=1.0)
    teacher = rows["teacher"]
    print("\n| model | params | pairs/s | ndcg@10 | retained | speedup |\n|---|---|---|---|---|---|")
    for name, row in rows.items():
        retained = row["ndcg@10"] / teacher["ndcg@10"]
        speedup = throughput[name] / throughput["teacher"]
        label = f"{name} (candidates cached)" if row["cached"] else name
        print(f"| {label} | {row['params']:,} | {throughput[name]:,.0f} | {row['ndcg@10']:.4f} | {retained:.1%} | {speedup:.1f}x |")
    print(f"\nruns under {args.out}")


if __name__ == "__main__":
    main()
