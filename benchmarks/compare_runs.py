"""Compare one model across two finished runs, request by request: what a change of config did to it.

A run's report compares its own models; a change of recipe (``labeling.enforce_rules=false`` against the
default) is two runs of the same golden test (the same data and seed: another seed draws other requests). Both runs'
``evaluate/per_request.jsonl`` hold each metric per test request, so the difference is paired over the
requests both evaluated, with the report's interval and test (:mod:`stillroom.evaluation.significance`).

    python benchmarks/compare_runs.py outputs/jobs/default outputs/jobs/labeling.enforce_rules=false
    python benchmarks/compare_runs.py RUN_A RUN_B --model teacher --metrics ndcg@10 violation_rate@10
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stillroom.evaluation.significance import IntervalSettings, paired_difference, verdict

LOWER_IS_BETTER = ("violation_rate",)
"""Metrics where a smaller figure is the better one."""


def per_request(run: Path, model: str) -> dict[str, dict[str, tuple[float, float]]]:
    """metric -> request -> (value, weight) of ``model`` on golden test in ``run``."""
    table: dict[str, dict[str, tuple[float, float]]] = {}
    with (run / "evaluate" / "per_request.jsonl").open(encoding="utf-8") as rows:
        for line in rows:
            row = json.loads(line)
            if row["split"] == "test" and row["model"] == model:
                table.setdefault(row["metric"], {})[row["request_id"]] = (row["value"], row["weight"])
    if not table:
        raise SystemExit(f"{run}: no test figures of a model named {model!r}")
    return table


def _mean(values: list[float], weights: list[float]) -> float:
    return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--model", default="student")
    parser.add_argument("--metrics", nargs="*", help="per-request metrics to compare (default: every one both runs have)")
    parser.add_argument("--seed", type=int, default=7, help="seeds the bootstrap, as a run's seed does")
    args = parser.parse_args()
    a, b = per_request(args.run_a, args.model), per_request(args.run_b, args.model)
    print(f"| {args.model}: a − b | a | b | difference | 95% interval | p | verdict | requests |")
    print("|---|---|---|---|---|---|---|---|")
    for metric in args.metrics or sorted(set(a) & set(b)):
        requests = sorted(set(a[metric]) & set(b[metric]))
        a_values, weights = [a[metric][r][0] for r in requests], [a[metric][r][1] for r in requests]
        b_values = [b[metric][r][0] for r in requests]
        result = paired_difference(a_values, b_values, weights, IntervalSettings(seed=args.seed))
        said = verdict(result.ci, higher_is_better=not metric.startswith(LOWER_IS_BETTER))
        print(
            f"| {metric} | {_mean(a_values, weights):.4f} | {_mean(b_values, weights):.4f} | {result.difference:+.4f} | "
            f"[{result.ci[0]:+.4f}, {result.ci[1]:+.4f}] | {result.p_value:.4f} | {said} | {len(requests)} |"
        )


if __name__ == "__main__":
    main()
