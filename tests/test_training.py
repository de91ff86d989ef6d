"""The Lightning training loop: it learns, and early stopping keeps the best epoch."""

from __future__ import annotations

import random

import torch

from stillroom.config_schema import validate_config
from stillroom.plugin_manager import get_plugin_manager
from stillroom.ranker import BuildContext
from stillroom.training import PairCollator, TrainItem, fit, hard_label_loss
from tests.conftest import compose_config

TRAINER = {"accelerator": "cpu", "devices": 1, "strategy": "auto", "precision": "32-true", "progress_bar": False,
           "log_every_n_steps": 1, "deterministic": True}


def _tiny_ranker():
    config = validate_config(compose_config("teacher=tiny"))["teacher"]
    return get_plugin_manager().hook.stillroom_build_model(role="teacher", model_config=config, context=BuildContext(2))


def _items(n: int, seed: int) -> list[TrainItem]:
    """A learnable toy task: label 1 when the candidate repeats the request's word."""
    rng = random.Random(seed)
    words = ["python", "nurse", "berlin", "sales", "design", "finance"]
    items = []
    for _ in range(n):
        a, b = rng.sample(words, 2)
        same = rng.random() < 0.5
        items.append(TrainItem(a, a if same else b, label=int(same)))
    return items


def _dev_ce(ranker, items) -> float:
    batch = PairCollator(ranker, 2)(items)
    ranker.eval()
    with torch.no_grad():
        return float(hard_label_loss(ranker(**batch["features"]), batch["labels"]))


def test_training_lowers_dev_loss() -> None:
    from stillroom.losses import WeightedTerm
    from stillroom.plugins.losses import hard_label_ce

    ranker = _tiny_ranker()
    dev = _items(64, seed=2)
    before = _dev_ce(ranker, dev)
    terms = [WeightedTerm("hard_label_ce", 1.0, hard_label_ce(), needs_teacher=False)]
    history = fit(ranker, terms, _items(256, seed=1), dev, {"epochs": 4, "lr": 3e-3, "batch_size": 16}, TRAINER, [], 2, seed=0)
    assert _dev_ce(ranker, dev) < before
    assert any("train/loss" in row for row in history) and any("val/ce" in row for row in history)


def test_early_stopping_stops_and_keeps_the_best_epoch() -> None:
    from stillroom.losses import WeightedTerm
    from stillroom.plugins.losses import hard_label_ce

    ranker = _tiny_ranker()
    dev = _items(64, seed=2)
    terms = [WeightedTerm("hard_label_ce", 1.0, hard_label_ce(), needs_teacher=False)]
    # Labels that contradict the dev set: dev loss rises after the first epochs.
    flipped = [TrainItem(i.request_text, i.candidate_text, label=1 - i.label) for i in _items(256, seed=1)]
    history = fit(
        ranker, terms, flipped, dev, {"epochs": 12, "lr": 1e-2, "batch_size": 16, "early_stopping_patience": 1}, TRAINER, [], 2, seed=0
    )
    val = [row["val/ce"] for row in history if "val/ce" in row]
    assert len(val) < 12
    assert abs(_dev_ce(ranker, dev) - min(val)) < 1e-4
