"""Evaluation: the evaluators' contract, intervals and paired comparisons, scoring and throughput, and the report.

``stillroom.evaluation`` keeps the names plugins and scripts import from it; they live in :mod:`.evaluators`.
"""

from stillroom.evaluation.evaluators import (
    EVALUATORS,
    EvalInput,
    Evaluator,
    PerRequest,
    available_evaluators,
    evaluate,
    select_evaluators,
)

__all__ = ["EVALUATORS", "EvalInput", "Evaluator", "PerRequest", "available_evaluators", "evaluate", "select_evaluators"]
