"""The comparisons a team decides on, each with its paired interval, p-value and verdict.

``evaluator.comparisons`` lists them as ``[a, b]`` pairs of report names
(``[student, student_no_kd]``); ``baselines`` stands for every baseline of the
run, so ``[student, baselines]`` compares the student with BM25 and with
zero-shot. Every per-request metric both models have is compared, ``a`` minus
``b`` on the same requests.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from stillroom.errors import StillroomError
from stillroom.evaluation import PerRequest
from stillroom.evaluation.significance import IntervalSettings, paired_difference, verdict

BASELINES = "baselines"
"""In ``evaluator.comparisons``: each of the run's baselines in turn."""


def comparison_pairs(spec: Sequence[Sequence[str]], models: Collection[str], baselines: Collection[str]) -> list[tuple[str, str]]:
    """The ``(a, b)`` pairs ``spec`` names, with ``baselines`` expanded; a name the run does not evaluate is an error."""
    pairs: list[tuple[str, str]] = []
    known = [*models, *baselines]
    for index, entry in enumerate(spec):
        where = f"evaluator.comparisons[{index}]"
        if len(entry) != 2:
            raise StillroomError(f"expected a pair [a, b] of models to compare, got {list(entry)!r}", where=where)
        sides = [list(baselines) if name == BASELINES else [name] for name in entry]
        unknown = [name for name in entry if name != BASELINES and name not in known]
        if unknown:
            raise StillroomError(f"this run evaluates no model {unknown[0]!r}; it has {', '.join(known)} (and `{BASELINES}`)", where=where)
        pairs += [(a, b) for a in sides[0] for b in sides[1] if a != b and (a, b) not in pairs]
    return pairs


def compare(
    per_request: Mapping[str, Mapping[str, PerRequest]], pairs: Sequence[tuple[str, str]], settings: IntervalSettings
) -> list[dict[str, Any]]:
    """For each pair and each per-request metric both models have: ``a - b`` with its interval, p-value and verdict."""
    comparisons = []
    for a, b in pairs:
        for metric, a_values in per_request[a].items():
            b_values = per_request[b].get(metric)
            if b_values is None:
                continue
            requests = list(a_values.values)
            a_column, weights = a_values.columns(requests)
            b_column, _ = b_values.columns(requests)
            result = paired_difference(a_column, b_column, weights, settings)
            comparisons.append(
                {
                    "a": a,
                    "b": b,
                    "metric": metric,
                    "difference": result.difference,
                    "ci": list(result.ci),
                    "p_value": result.p_value,
                    "verdict": verdict(result.ci, a_values.higher_is_better),
                    "requests": len(requests),
                }
            )
    return comparisons
