"""Which weights training keeps: the best dev epoch, or the start unless an epoch's gain over it is resolved.

A fused start (:mod:`stillroom.training.fusion_start`) is already as good as
what a team ships without stillroom. On a collection that judges test queries
only, golden dev may be five queries, and an epoch that ranks them better by
chance replaces the start. ``train.leave_start_when: resolved`` asks more of
an epoch than a higher mean: its per-request gain over the start on golden dev
must be resolved by the paired test the report's verdicts use. It cannot
undo a draw of dev itself: on CACM all five dev queries ranked better after
eight epochs of fine-tuning (a resolved gain) and test ranked worse
(docs/benchmarks.md, "Two levers on the fused start").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torchmetrics.functional.retrieval import retrieval_normalized_dcg

from stillroom.errors import StillroomError
from stillroom.evaluation.significance import BETTER, IntervalSettings, paired_difference, verdict

LEAVE_START_WHEN = ("better", "resolved")
"""``train.leave_start_when``: any epoch that ranks dev better replaces the start, or only one whose gain is resolved."""


class DevRequests:
    """A validation epoch's scores per golden dev request, for the per-request NDCG@k a paired test reads."""

    def __init__(self, k: int | None) -> None:
        self.k = k
        self.rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def reset(self) -> None:
        self.rows = []

    def add(self, scores: torch.Tensor, labels: torch.Tensor, requests: torch.Tensor) -> None:
        self.rows.append((scores.detach().float().cpu(), labels.detach().cpu(), requests.detach().cpu()))

    def ndcg(self) -> dict[int, float]:
        """NDCG@k of each request seen this epoch (0 for one with no relevant candidate, as the dev figure counts it)."""
        if not self.rows:
            return {}
        scores, labels, requests = (torch.cat(column) for column in zip(*self.rows, strict=True))
        values = {}
        for request in requests.unique().tolist():
            rows = requests == request
            values[request] = float(retrieval_normalized_dcg(scores[rows], labels[rows], top_k=self.k)) if labels[rows].any() else 0.0
        return values


def leave_start_when(train_config: Mapping[str, Any], where: str = "train.leave_start_when") -> str:
    """The rule ``train.leave_start_when`` names; an unknown one is an error at ``where``."""
    rule = str(train_config["leave_start_when"])
    if rule not in LEAVE_START_WHEN:
        raise StillroomError(f"expected one of {', '.join(LEAVE_START_WHEN)}, got {rule!r}", where=where)
    return rule


class KeepBestWeights(pl.Callback):
    """Early stopping's other half: restore the weights of the best validation epoch when training ends.

    The weights before training compete too (:func:`~stillroom.training.loop.fit` validates them first): a
    model that starts where its base model is (a similarity prior, an adapter at zero) never ends below where
    it started on dev. With ``over_start`` (interval settings), an epoch counts only when its per-request
    gain over those first weights on dev is resolved; the module's ``dev_requests`` (kept only then) give the
    per-request values.
    """

    def __init__(self, monitor: str, mode: str = "min", over_start: IntervalSettings | None = None, stage: str = "train") -> None:
        self.monitor = monitor
        self.stage = stage
        self.sign = 1.0 if mode == "min" else -1.0
        self.over_start = over_start
        self.best = float("inf")
        self.state: dict[str, torch.Tensor] | None = None
        self.start: dict[int, float] | None = None
        self.unresolved = 0

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or trainer.sanity_checking or self.sign * float(value) >= self.best:
            return
        if self.over_start is not None:
            per_request = pl_module.dev_requests.ndcg()
            if trainer.state.fn == TrainerFn.VALIDATING:  # the weights before training: what an epoch must beat
                self.start = per_request
            elif self.start is not None and not self._resolved(per_request):
                self.unresolved += 1
                return
        self.best = self.sign * float(value)
        self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def _resolved(self, per_request: Mapping[int, float]) -> bool:
        requests = [r for r in self.start if r in per_request]
        gain = paired_difference([per_request[r] for r in requests], [self.start[r] for r in requests], [1.0] * len(requests), self.over_start)
        return verdict(gain.ci) == BETTER

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.unresolved:
            print(f"[stillroom] {self.stage}: {self.unresolved} epoch(s) ranked golden dev better than the start without a resolved gain; not kept")
        if self.state is not None:
            pl_module.load_state_dict(self.state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "state": self.state, "start": self.start, "unresolved": self.unresolved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best, self.state = float(state_dict["best"]), state_dict["state"]
        self.start, self.unresolved = state_dict.get("start"), int(state_dict.get("unresolved", 0))
