"""Which weights training keeps: with ``leave_start_when: resolved`` an epoch must beat the start with a resolved gain."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.trainer.states import TrainerFn

from stillroom.errors import StillroomError
from stillroom.evaluation.significance import IntervalSettings
from stillroom.training import TrainItem, fit
from stillroom.training.selection import DevRequests, KeepBestWeights, leave_start_when
from tests.helpers import TRAINER, tiny_ranker, toy_items, train_config

SETTINGS = IntervalSettings(resamples=2_000)


class _Module:
    """What the callback reads of a LightningModule: its state and its dev requests' NDCG."""

    def __init__(self) -> None:
        self.weights = torch.zeros(1)
        self.per_request: dict[int, float] = {}
        self.dev_requests = SimpleNamespace(ndcg=lambda: self.per_request)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"w": self.weights.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.weights = state["w"].clone()


def _validate(callback: KeepBestWeights, module: _Module, weight: float, per_request: list[float], fn: TrainerFn) -> None:
    module.weights = torch.tensor([weight])
    module.per_request = dict(enumerate(per_request))
    mean = torch.tensor(sum(per_request) / len(per_request))
    trainer = SimpleNamespace(callback_metrics={"val/ndcg": mean}, sanity_checking=False, state=SimpleNamespace(fn=fn))
    callback.on_validation_epoch_end(trainer, module)


def _kept(over_start: IntervalSettings | None) -> float:
    """The weight kept after a start, an epoch with a higher mean made of gains and losses, then one that gains everywhere."""
    callback, module = KeepBestWeights("val/ndcg", "max", over_start), _Module()
    start = [0.5] * 8
    _validate(callback, module, 0.0, start, TrainerFn.VALIDATING)
    _validate(callback, module, 1.0, [0.9, 0.1, 0.95, 0.2, 0.9, 0.3, 0.9, 0.6], TrainerFn.FITTING)  # mean 0.606
    _validate(callback, module, 2.0, [0.55] * 8, TrainerFn.FITTING)  # mean 0.55: lower, but resolved
    callback.on_fit_end(SimpleNamespace(), module)
    return float(module.weights)


def test_an_epoch_with_a_higher_dev_mean_replaces_the_start_by_default() -> None:
    assert _kept(None) == 1.0


def test_with_resolved_an_epoch_replaces_the_start_only_when_its_paired_gain_excludes_zero() -> None:
    assert _kept(SETTINGS) == 2.0


def test_with_resolved_the_start_stays_when_no_epoch_gains_resolvably(capsys: pytest.CaptureFixture[str]) -> None:
    callback, module = KeepBestWeights("val/ndcg", "max", SETTINGS, stage="finetune"), _Module()
    _validate(callback, module, 0.0, [0.5] * 6, TrainerFn.VALIDATING)
    _validate(callback, module, 1.0, [0.9, 0.2, 0.9, 0.3, 0.8, 0.4], TrainerFn.FITTING)
    callback.on_fit_end(SimpleNamespace(), module)
    assert float(module.weights) == 0.0
    assert "finetune: 1 epoch(s) ranked golden dev better than the start without a resolved gain" in capsys.readouterr().out


def test_the_start_a_resumed_run_compares_with_is_in_the_callbacks_checkpoint_state() -> None:
    callback, module = KeepBestWeights("val/ndcg", "max", SETTINGS), _Module()
    _validate(callback, module, 0.0, [0.5] * 6, TrainerFn.VALIDATING)
    resumed = KeepBestWeights("val/ndcg", "max", SETTINGS)
    resumed.load_state_dict(callback.state_dict())
    _validate(resumed, module, 1.0, [0.9, 0.2, 0.9, 0.3, 0.8, 0.4], TrainerFn.FITTING)
    resumed.on_fit_end(SimpleNamespace(), module)
    assert float(module.weights) == 0.0


def test_dev_requests_give_the_per_request_ndcg_whose_mean_is_the_dev_figure() -> None:
    from stillroom.losses import WeightedTerm
    from stillroom.plugins.losses import hard_label_ce

    dev = [TrainItem(i.request_text, i.candidate_text, i.label, request_id=i.request_text) for i in toy_items(96, seed=2)]
    config = train_config(epochs=2, lr=1e-2, batch_size=16, early_stopping_patience=2, select_by="ndcg", leave_start_when="resolved")
    seen = []

    class Watch(KeepBestWeights):  # reads what the real callback reads, after each validation
        def on_validation_epoch_end(self, trainer, pl_module) -> None:
            seen.append((pl_module.dev_requests.ndcg(), float(trainer.callback_metrics["val/ndcg"])))

    fit(tiny_ranker(), [WeightedTerm("hard_label_ce", 1.0, hard_label_ce())], toy_items(64, seed=1), dev, config, TRAINER, [], seed=0,
        callbacks=[Watch("val/ndcg", "max")], ndcg_k=3, intervals=SETTINGS)  # fmt: skip
    assert len(seen) == 3  # before training, then each epoch
    requests = len({i.request_id for i in dev})
    for per_request, figure in seen:
        assert len(per_request) == requests
        assert abs(sum(per_request.values()) / requests - figure) < 1e-5


def test_dev_requests_count_a_request_without_a_relevant_candidate_as_zero() -> None:
    requests = DevRequests(k=2)
    requests.add(torch.tensor([0.9, 0.1, 0.5, 0.4]), torch.tensor([0, 1, 0, 0]), torch.tensor([0, 0, 1, 1]))
    values = requests.ndcg()
    assert values[1] == 0.0 and 0.0 < values[0] < 1.0
    requests.reset()
    assert requests.ndcg() == {}


def test_an_unknown_rule_is_an_error_that_names_the_choices() -> None:
    assert leave_start_when({"leave_start_when": "resolved"}) == "resolved"
    with pytest.raises(StillroomError, match="better, resolved"):
        leave_start_when({"leave_start_when": "always"})
