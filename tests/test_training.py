"""The Lightning training loop: it learns, and early stopping keeps the best epoch."""

from __future__ import annotations

import random

import torch

from stillroom.losses import hard_label_loss
from stillroom.plugin_manager import get_plugin_manager
from stillroom.training import PairCollator, TrainItem, fit
from tests.helpers import TRAINER, tiny_ranker, toy_items, train_config


def _dev_ce(ranker, items) -> float:
    batch = PairCollator(ranker)(items)
    ranker.eval()
    with torch.no_grad():
        return float(hard_label_loss(ranker(**batch["features"]), batch["labels"]))


def test_training_lowers_dev_loss() -> None:
    from stillroom.losses import WeightedTerm
    from stillroom.plugins.losses import hard_label_ce

    ranker = tiny_ranker()
    dev = toy_items(64, seed=2)
    before = _dev_ce(ranker, dev)
    terms = [WeightedTerm("hard_label_ce", 1.0, hard_label_ce())]
    history = fit(ranker, terms, toy_items(256, seed=1), dev, train_config(epochs=4, lr=3e-3, batch_size=16), TRAINER, [], seed=0)
    assert _dev_ce(ranker, dev) < before
    assert any("train/loss" in row for row in history) and any("val/ce" in row for row in history)


def test_early_stopping_stops_and_keeps_the_best_epoch() -> None:
    from stillroom.losses import WeightedTerm
    from stillroom.plugins.losses import hard_label_ce

    ranker = tiny_ranker()
    dev = toy_items(64, seed=2)
    terms = [WeightedTerm("hard_label_ce", 1.0, hard_label_ce())]
    # Labels that contradict the dev set: dev loss rises after the first epochs.
    flipped = [TrainItem(i.request_text, i.candidate_text, label=1 - i.label) for i in toy_items(256, seed=1)]
    history = fit(
        ranker, terms, flipped, dev, train_config(epochs=12, lr=1e-2, batch_size=16, early_stopping_patience=1), TRAINER, [], seed=0
    )
    val = [row["val/ce"] for row in history if "val/ce" in row]
    assert len(val) < 12
    assert abs(_dev_ce(ranker, dev) - min(val)) < 1e-4


def test_selected_by_dev_ndcg_the_weights_before_training_compete_and_win_when_training_only_hurts() -> None:
    from stillroom.losses import WeightedTerm
    from stillroom.plugins.losses import hard_label_ce

    ranker = tiny_ranker()
    before = {k: v.clone() for k, v in ranker.state_dict().items()}
    # Each request's list: its word repeated (label 1) among other words; training is told the opposite.
    dev = [TrainItem(i.request_text, i.candidate_text, i.label, request_id=i.request_text) for i in toy_items(96, seed=2)]
    flipped = [TrainItem(i.request_text, i.candidate_text, label=1 - i.label, request_id=i.request_text) for i in toy_items(256, seed=1)]
    config = train_config(epochs=4, lr=1e-2, batch_size=16, early_stopping_patience=4, select_by="ndcg")
    history = fit(ranker, [WeightedTerm("hard_label_ce", 1.0, hard_label_ce())], flipped, dev, config, TRAINER, [], seed=0)
    ndcg = [(row["step"], row["val/ndcg"]) for row in history if "val/ndcg" in row]
    assert ndcg[0][0] == 0 and len(ndcg) == 5  # validated before the first step, then after each epoch
    assert ndcg[0][1] > max(value for _, value in ndcg[1:])  # learning the flipped labels ranks dev worse
    assert all(torch.equal(before[k], v) for k, v in ranker.state_dict().items())  # so the untrained weights are kept


def test_the_dev_ndcg_that_selects_an_epoch_is_cut_at_the_runs_k() -> None:
    """The gate and the report judge NDCG@k; an epoch chosen on whole lists could rank better below k and worse above it."""
    from torchmetrics.functional.retrieval import retrieval_normalized_dcg

    from stillroom.losses import WeightedTerm
    from stillroom.plugins.losses import hard_label_ce
    from stillroom.ranker import expected_grade

    dev = [TrainItem(i.request_text, i.candidate_text, i.label, request_id=i.request_text) for i in toy_items(96, seed=2)]
    config = train_config(epochs=1, lr=1e-2, batch_size=16, early_stopping_patience=1, select_by="ndcg")
    term = WeightedTerm("hard_label_ce", 1.0, hard_label_ce())
    ranker = tiny_ranker().eval()
    with torch.no_grad():
        grades = expected_grade(torch.softmax(ranker(**PairCollator(ranker)(dev)["features"]), dim=-1))
    state = {k: v.clone() for k, v in ranker.state_dict().items()}
    untrained = {}  # the dev figure of the weights before training, validated before the first step
    for k in (1, None):
        ranker.load_state_dict(state)
        untrained[k] = fit(ranker, [term], toy_items(32, seed=1), dev, config, TRAINER, [], seed=0, ndcg_k=k)[0]["val/ndcg"]
    lists = [[n for n, i in enumerate(dev) if i.request_id == request] for request in sorted({i.request_id for i in dev})]
    at_1 = [retrieval_normalized_dcg(grades[rows], torch.tensor([dev[r].label for r in rows]), top_k=1) for rows in lists]
    assert abs(untrained[1] - float(torch.stack(at_1).mean())) < 1e-5
    assert untrained[1] != untrained[None]


def test_the_golden_labels_are_a_teacher_every_batch_has_so_ranking_terms_can_read_their_order() -> None:
    from stillroom.losses import GOLDEN, NO_LABEL
    from stillroom.plugins.losses.ranking import listnet

    ranker = tiny_ranker()
    items = [TrainItem("python", c, label, request_id="r") for c, label in (("python", 1), ("nurse", 0), ("sales", NO_LABEL))]
    batch = PairCollator(ranker)(items)
    golden = batch["teachers"][GOLDEN]
    assert torch.equal(golden["mask"], torch.tensor([True, True, False]))
    assert torch.equal(golden["probs"][:2], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    term = listnet(teacher=GOLDEN)
    assert float(term(torch.tensor([[0.0, 5.0], [5.0, 0.0], [0.0, 0.0]]), batch)) < float(term(torch.tensor([[5.0, 0.0], [0.0, 5.0], [0.0, 0.0]]), batch))


def test_request_batches_keep_each_request_whole_and_cover_every_pair_once() -> None:
    from stillroom.training.sampling import RequestBatchSampler

    requests = [f"r{i % 7}" for i in range(40)]  # 7 requests of 5 or 6 pairs, interleaved
    sampler = RequestBatchSampler(requests, batch_size=12, seed=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(40))
    assert all(len(b) <= 12 for b in batches) and len(batches) == len(sampler)
    for batch in batches:
        for request in {requests[i] for i in batch}:
            assert sum(requests[i] == request for i in batch) == requests.count(request)


def test_golden_pairs_and_precedent_copies_train_as_requests_of_their_own() -> None:
    """Batches of whole requests (ranking terms) need each golden pair's request, and each precedent copy apart."""
    from types import SimpleNamespace

    from stillroom.data import Pair
    from stillroom.stages.training import golden_items, precedent_items
    from stillroom.training.sampling import RequestBatchSampler

    golden = [Pair(f"m{m}:j{j}", f"m{m}", f"j{j}", f"member {m}", f"job {j}", label=j % 2) for m in range(3) for j in range(4)]
    precedents = [Pair(f"precedent-{i}:x", f"precedent-{i}", "x", f"precedent {i}", "job", label=1) for i in range(2)]
    ctx = SimpleNamespace(pairs=lambda split: golden, precedents=lambda: precedents, config={"labeling": {"precedent_copies": 3}})
    items = golden_items(ctx, "train") + precedent_items(ctx)
    assert [i.request_id for i in items[:12]] == [p.request_id for p in golden]
    assert len({i.request_id for i in items[12:]}) == 6  # 2 precedents x 3 copies
    batches = list(RequestBatchSampler([i.request_id for i in items], batch_size=8, seed=0))
    assert max(len(b) for b in batches) <= 8 and sorted(i for b in batches for i in b) == list(range(18))


def test_collator_stacks_each_teacher_on_its_own_scale() -> None:
    from stillroom.training import TargetShapes

    items = [
        TrainItem("a", "b", targets={"relevance": torch.tensor([0.1, 0.9]), "engagement": torch.tensor([0.2, 0.3, 0.5])}, request_id="m1"),
        TrainItem("a", "c", label=1, request_id="m2"),
        TrainItem("a", "d", targets={"relevance": torch.tensor([0.6, 0.4])}, hidden={"relevance": torch.ones(4)}, request_id="m1"),
    ]
    shapes = TargetShapes.of(items)
    assert shapes.scales == {"relevance": 2, "engagement": 3} and shapes.hidden_widths == {"relevance": 4}
    batch = PairCollator(tiny_ranker(), shapes)(items)
    assert batch["group"].tolist() == [0, 1, 0]
    assert batch["teachers"]["relevance"]["mask"].tolist() == [True, False, True]
    assert batch["teachers"]["engagement"]["mask"].tolist() == [True, False, False]
    assert batch["teachers"]["engagement"]["probs"].shape == (3, 3)
    assert batch["teachers"]["relevance"]["hidden"][2].tolist() == [1.0] * 4


def test_distilling_with_list_and_hidden_terms_trains_the_projection_too() -> None:
    from stillroom.losses import HiddenWidths, available_losses, build_terms
    from stillroom.stages.training import hidden_widths

    ranker = tiny_ranker()
    rng = random.Random(3)
    items = [
        TrainItem(i.request_text, i.candidate_text, label=i.label, request_id=f"m{n // 4}",
                  targets={"relevance": torch.tensor([0.8, 0.2]) if i.label == 0 else torch.tensor([0.1, 0.9])},
                  hidden={"relevance": torch.tensor([rng.random() for _ in range(8)])})
        for n, i in enumerate(toy_items(64, seed=4))
    ]
    widths = hidden_widths(ranker, items)
    assert widths == HiddenWidths(student=32, teachers={"relevance": 8})  # the tiny teacher config is 32 wide
    specs = available_losses(get_plugin_manager())
    terms = build_terms({"listnet": {"weight": 1.0}, "hidden_mse": {"weight": 0.5}}, specs, widths)
    projection = terms[1].term.projection.weight.detach().clone()
    history = fit(ranker, terms, items, toy_items(16, seed=2), train_config(epochs=1, lr=3e-3, batch_size=8), TRAINER, [], seed=0)
    assert not torch.equal(projection, terms[1].term.projection.weight)
    assert any("train/listnet" in row and "train/hidden_mse" in row for row in history)
