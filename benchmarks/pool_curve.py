"""What the pool buys: the student's NDCG@10 against the size of the pool the teacher labels, on one real collection.

    python benchmarks/pool_curve.py --collections DIR --out OUT [--collection code_search] [--queries 15,50,150] [OVERRIDE ...]

LinkedIn's biggest single gain came from distilling on more teacher-labeled
pairs (200K to 8M). This runs the recipe on one collection of
``benchmarks/real_data.yaml`` once per pool size (``data.max_pool_queries``,
each pool query bringing BM25's top ``data.pool_first_stage_k``) and prints,
per size, the pool's pairs, the student's NDCG@10 on golden test with its
interval, and its paired gain over ``student_no_kd`` (which never sees the
pool) and over ``zero_shot``. Everything else (golden sets, teacher) is the same in every run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml
from real_data import MANIFEST, comparison, difference, ensure_collection, figure, run_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--collection", default="code_search")
    parser.add_argument("--queries", default="15,50,150", help="comma-separated pool sizes, in queries")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    spec = yaml.safe_load(args.manifest.read_text(encoding="utf-8"))["collections"][args.collection]
    folder = args.collections / args.collection
    ensure_collection(args.collection, spec, folder)
    print("| pool queries | pool pairs | student ndcg@10 | student − student_no_kd | student − zero_shot | time |")
    print("|---|---|---|---|---|---|")
    for size in (int(n) for n in args.queries.split(",")):
        run_dir = args.out / f"pool-{size}"
        overrides = [*spec.get("overrides", []), f"data.max_pool_queries={size}", *args.overrides]
        seconds = run_recipe(["data=beir", f"data.path={folder}"], run_dir, overrides)
        report = json.loads((run_dir / "report" / "report.json").read_text(encoding="utf-8"))
        metric = report["primary_metric"]
        pool = json.loads((run_dir / "prepare" / "_complete.json").read_text(encoding="utf-8"))["summary"]["counts"]["pool"]
        gains = [difference(comparison(report, "student", b, metric)) for b in ("student_no_kd", "zero_shot")]
        print(f"| {size} | {pool:,} | {figure(report, 'student', metric)} | {' | '.join(gains)} | {seconds / 60:.1f} min |", flush=True)


if __name__ == "__main__":
    main()
