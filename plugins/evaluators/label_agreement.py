"""Agreement with the golden labels: ROC AUC of the score and quadratic Cohen's kappa of the label.

A baseline predicts no label, so it gets the AUC alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from stillroom import hookimpl
from stillroom.evaluation import EvalInput


@dataclass(frozen=True)
class LabelAgreementEvaluator:
    name: str = "label_agreement"

    def __call__(self, inputs: EvalInput) -> dict[str, float]:
        from torchmetrics.classification import BinaryAUROC  # seconds to import: only when evaluating

        from stillroom.policy.gate import quadratic_kappa

        golden = inputs.golden_labels
        relevant = (golden >= inputs.policy.relevant_label).long()
        figures = {"auc": float(BinaryAUROC()(inputs.scores, relevant))}
        if inputs.has_labels:
            figures["kappa"] = quadratic_kappa(inputs.predicted_labels, golden, inputs.policy.num_labels)
        return figures


@hookimpl
def stillroom_evaluators() -> list[LabelAgreementEvaluator]:
    return [LabelAgreementEvaluator()]
