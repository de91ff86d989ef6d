"""Agreement with the golden labels: ROC AUC of the score and quadratic Cohen's kappa of the label."""

from __future__ import annotations

from dataclasses import dataclass

from stillroom import hookimpl
from stillroom.evaluation import EvalInput


@dataclass(frozen=True)
class LabelAgreementEvaluator:
    name: str = "label_agreement"

    def __call__(self, inputs: EvalInput) -> dict[str, float]:
        from torchmetrics.classification import BinaryAUROC, MulticlassCohenKappa  # seconds to import: only when evaluating

        golden = inputs.golden_labels
        relevant = (golden >= inputs.policy.relevant_label).long()
        kappa = MulticlassCohenKappa(num_classes=inputs.policy.num_labels, weights="quadratic")
        return {
            "auc": float(BinaryAUROC()(inputs.scores, relevant)),
            "kappa": float(kappa(inputs.predicted_labels, golden)),
        }


@hookimpl
def stillroom_evaluators() -> list[LabelAgreementEvaluator]:
    return [LabelAgreementEvaluator()]
