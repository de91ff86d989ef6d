"""The policy gate: may this model label data at scale?

Before a judge's labels train anything, it must agree with the people who
wrote the golden set (quadratic Cohen's kappa on golden dev, the agreement
LinkedIn tracks for its judges), it must settle every precedent of the
policy the way the policy does, and it must rank golden dev better than the
free model the team starts from (``zero_shot``, the base model off the shelf):
a teacher worse than what a team gets for nothing is never distilled. A run
whose labeler fails stops here, before labeling at scale, with the figures that
failed.
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


FREE_MODEL = "zero_shot"
"""The baseline a labeler must beat: the base model off the shelf, what a team has before any training."""


@dataclass(frozen=True)
class GainCheck:
    """The labeler's gain over the free model on golden dev, paired over requests (``gate.min_gain_over_zero_shot``).

    Golden dev is small (10 members in the synthetic products) and its interval
    wide, so by default the mean gain must reach the bound and the interval is
    reported beside it; ``gate.gain_must_be_resolved`` asks for the whole
    interval above the bound, for a dev set large enough to resolve it.
    """

    baseline: str
    metric: str
    labeler: float
    free_model: float
    gain: float
    ci: tuple[float, float]
    min_gain: float
    must_be_resolved: bool
    requests: int

    @property
    def passed(self) -> bool:
        return self.ci[0] > self.min_gain if self.must_be_resolved else self.gain >= self.min_gain

    def explain(self) -> str:
        bound = "the whole interval above" if self.must_be_resolved else "at least"
        return (
            f"{self.metric} on golden dev {self.labeler:.3f} against {self.baseline}'s {self.free_model:.3f}: gain {self.gain:+.3f} "
            f"[{self.ci[0]:+.3f}, {self.ci[1]:+.3f}] over {self.requests} requests, gate.min_gain_over_{self.baseline} "
            f"{self.min_gain:+.3f} ({bound})"
        )


@dataclass(frozen=True)
class GateResult:
    model: str
    kappa: float
    min_kappa: float
    dev_pairs: int
    precedents_checked: int
    missed: tuple[PrecedentMiss, ...]
    gain: GainCheck | None = None
    """None where ``gate.min_gain_over_zero_shot`` is null: the gain is not asked for."""

    @property
    def passed(self) -> bool:
        return self.kappa >= self.min_kappa and not self.missed and (self.gain is None or self.gain.passed)

    def summary(self) -> dict[str, Any]:
        """The result as JSON-ready data: the gate stage writes it (``gate.result``), the report and the model card read it."""
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
        if self.gain is not None:
            parts.append(self.gain.explain())
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
    gain = gate.get("gain")
    gain_phrase = f", a gain over {gain['baseline']} of {gain['gain']:+.3f} {gain['metric']} on golden dev" if gain else ""
    return (
        f"the {gate['model']}, the first model to label data at scale, passed the policy gate: quadratic kappa "
        f"{gate['kappa']:.3f} against golden dev (threshold {gate['min_kappa']:.2f}), {precedents_phrase(gate)}{gain_phrase}"
    )


def judge_gate(
    model: str,
    dev: Sequence[Pair],
    dev_probs: torch.Tensor,
    precedents: Sequence[Pair],
    precedent_probs: torch.Tensor,
    policy: Policy,
    gate_config: Mapping[str, Any],
    gain: GainCheck | None = None,
) -> GateResult:
    """Measure a labeler's agreement with golden dev and with the policy's precedents; ``gain`` is measured by the caller."""
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
    return GateResult(model, kappa, float(gate_config["min_kappa"]), len(dev), len(precedents), missed, gain)
