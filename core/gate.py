"""The policy gate: may this model label data at scale?

Before a judge's labels train anything, it must agree with the people who
wrote the golden set (quadratic Cohen's kappa on golden dev, the agreement
LinkedIn tracks for its judges) and it must settle every precedent of the
policy the way the policy does. A run whose labeler fails stops here, before
labeling at scale, with the figures that failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torchmetrics.functional.classification import multiclass_cohen_kappa

from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.policy import Policy


def quadratic_kappa(predicted: torch.Tensor, golden: torch.Tensor, num_labels: int) -> float:
    """Cohen's kappa with quadratic weights: near misses on an ordinal scale cost less than far ones."""
    return float(multiclass_cohen_kappa(predicted, golden, num_classes=num_labels, weights="quadratic"))


@dataclass(frozen=True)
class PrecedentMiss:
    index: int
    expected: int
    predicted: int
    why: str


@dataclass(frozen=True)
class GateResult:
    model: str
    kappa: float
    min_kappa: float
    dev_pairs: int
    precedents_checked: int
    missed: tuple[PrecedentMiss, ...]

    @property
    def passed(self) -> bool:
        return self.kappa >= self.min_kappa and not self.missed

    def summary(self) -> dict[str, Any]:
        """The result as JSON-ready data: ``gate/gate.json``, the report and the model card read it."""
        return {**asdict(self), "missed": [asdict(m) for m in self.missed], "passed": self.passed}

    def explain(self, policy: Policy) -> str:
        """One line a person can act on: what was measured, against which threshold, which precedents."""
        parts = [f"quadratic kappa {self.kappa:.3f} against golden dev ({self.dev_pairs} pairs), gate.min_kappa {self.min_kappa:.3f}"]
        if self.missed:
            missed = "; ".join(
                f"[{m.index}] labeled {policy.label_name(m.predicted)}, policy says {policy.label_name(m.expected)}" for m in self.missed
            )
            parts.append(f"precedents missed {len(self.missed)} of {self.precedents_checked}: {missed}")
        else:
            parts.append(precedents_phrase(self.summary()))
        verdict = "passes" if self.passed else "fails"
        return f"the {self.model} {verdict} the policy gate: " + "; ".join(parts)


def precedents_phrase(gate: Mapping[str, Any]) -> str:
    """How the gated model did on the precedents, from a :meth:`GateResult.summary`."""
    checked = gate["precedents_checked"]
    if not checked:
        return "precedents not checked"
    return f"precedents right {checked - len(gate['missed'])} of {checked}"


def describe_gate(gate: Mapping[str, Any]) -> str:
    """One sentence on a passed gate, for the report and the model card."""
    return (
        f"the {gate['model']}, the first model to label data at scale, passed the policy gate: quadratic kappa "
        f"{gate['kappa']:.3f} against golden dev (threshold {gate['min_kappa']:.2f}), {precedents_phrase(gate)}"
    )


def judge_gate(
    model: str,
    dev: Sequence[Pair],
    dev_probs: torch.Tensor,
    precedents: Sequence[Pair],
    precedent_probs: torch.Tensor,
    policy: Policy,
    gate_config: Mapping[str, Any],
) -> GateResult:
    """Measure a labeler's agreement with golden dev and with the policy's precedents."""
    golden = torch.tensor([int(p.label) for p in dev], dtype=torch.long)
    if golden.unique().numel() < 2:
        raise StillroomError(
            f"golden dev has {len(dev)} pairs and {golden.unique().numel()} distinct labels: agreement (kappa) is undefined; "
            "the data source must give dev pairs with at least two labels",
            where="gate",
        )
    kappa = quadratic_kappa(dev_probs.argmax(-1), golden, policy.num_labels)
    predicted = precedent_probs.argmax(-1).tolist() if len(precedents) else []
    missed = tuple(
        PrecedentMiss(index, int(pair.label), label, policy.precedents[index].why)
        for index, (pair, label) in enumerate(zip(precedents, predicted, strict=True))
        if label != pair.label
    )
    return GateResult(model, kappa, float(gate_config["min_kappa"]), len(dev), len(precedents), missed)
