"""A model that adds the first stage's score to its own starts from their best fusion on golden train, calibrated."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stillroom.features import CalibratesFusion, FusesPairFeatures, model_inputs
from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.models import hf_builders
from stillroom.policy.source import load_policy
from stillroom.ranker import BuildContext, expected_grade
from stillroom.training.fusion_start import fit_listwise, fusion_columns, start_from_fusion
from stillroom.training.loop import TrainItem


@pytest.fixture(scope="module")
def context() -> BuildContext:
    policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
    return BuildContext(num_labels=4, teacher=None, label_names=tuple(label.name for label in policy.labels), policy=policy, precedents=())


def _bi_encoder(folder: Path, context: BuildContext, features: list[str]):
    config = {"name": "bi_encoder", "pretrained": str(folder), "tokenizer": str(folder), "max_length": 32, "adapter_hidden": 16, "features": features}
    return hf_builders.build_bi_encoder(config, context, "student").eval()


def _items(requests: int = 8, candidates: int = 6) -> list[TrainItem]:
    """Lists where the first stage knows the relevant candidate (its top score) and the texts say nothing of it."""
    return [
        TrainItem(
            f"request {r} about topic {r % 3}",
            f"candidate {c} on subject {(r * 7 + c) % 5}",
            label=3 if c == (r % candidates) else 0,
            request_id=f"r{r}",
            features={"first_stage_score": 1.0 if c == (r % candidates) else c / (2 * candidates)},
        )
        for r in range(requests)
        for c in range(candidates)
    ]


def _grades(model, items: list[TrainItem]) -> torch.Tensor:
    inputs = model_inputs(model, [i.request_text for i in items], [i.candidate_text for i in items], [i.features for i in items])
    with torch.no_grad():
        return expected_grade(torch.softmax(model(**inputs), dim=-1))


def test_the_start_weighs_the_first_stage_when_it_is_what_ranks_dev(tiny_encoder_folder: Path, context: BuildContext) -> None:
    model, items = _bi_encoder(tiny_encoder_folder, context, ["first_stage_score"]), _items()
    assert isinstance(model, FusesPairFeatures) and float(model.feature_weights.weight.detach().abs().sum()) == 0.0
    columns = fusion_columns(model, items, batch_size=5)
    assert columns.shape == (len(items), 2)
    assert torch.equal(columns[:, 1], torch.tensor([i.features["first_stage_score"] for i in items]))
    fusion = start_from_fusion(model, items, "ndcg@3", batch_size=5)
    assert fusion is not None and fusion.norm is None and fusion.weights[1] > 0
    assert float(model.feature_weights.weight.detach()) > 0
    grades = _grades(model, items)
    for request in {i.request_id for i in items}:
        rows = [n for n, i in enumerate(items) if i.request_id == request]
        assert items[max(rows, key=lambda n: float(grades[n]))].label == 3  # the fused model puts the relevant one first


def test_the_fused_scores_rank_as_the_fitted_weighted_sum(tiny_encoder_folder: Path, context: BuildContext) -> None:
    model, items = _bi_encoder(tiny_encoder_folder, context, ["first_stage_score"]), _items()
    model.set_fusion_weights((0.6, 0.4))
    assert float(model.feature_weights.weight.detach()) == pytest.approx(0.4 / 0.6)
    columns = fusion_columns(model, items, batch_size=7)
    fused = 0.6 * columns[:, 0] + 0.4 * columns[:, 1]
    assert torch.equal(torch.argsort(_grades(model, items), stable=True), torch.argsort(fused, stable=True))


def test_a_fusion_without_the_cosine_keeps_a_tenth_of_it_to_break_ties(tiny_encoder_folder: Path, context: BuildContext) -> None:
    model = _bi_encoder(tiny_encoder_folder, context, ["first_stage_score"])
    model.set_fusion_weights((0.0, 1.0))
    assert float(model.feature_weights.weight.detach()) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="a weight for the cosine and each feature"):
        model.set_fusion_weights((1.0,))


def test_a_model_that_reads_no_feature_starts_where_it_was_built(tiny_encoder_folder: Path, context: BuildContext) -> None:
    model = _bi_encoder(tiny_encoder_folder, context, [])
    before = {name: p.clone() for name, p in model.state_dict().items()}
    assert start_from_fusion(model, _items(), "ndcg@3", batch_size=5) is None
    assert all(torch.equal(before[name], p) for name, p in model.state_dict().items())


def test_the_start_is_calibrated_to_the_labels_it_was_fitted_on_and_ranks_as_before(tiny_encoder_folder: Path, context: BuildContext) -> None:
    model, items = _bi_encoder(tiny_encoder_folder, context, ["first_stage_score"]), _items()
    assert isinstance(model, CalibratesFusion)
    labels = torch.tensor([i.label for i in items])

    def cross_entropy() -> float:
        inputs = model_inputs(model, [i.request_text for i in items], [i.candidate_text for i in items], [i.features for i in items])
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(model(**inputs), labels))

    def orders() -> list[list[int]]:
        grades = _grades(model, items)
        lists = [[n for n, i in enumerate(items) if i.request_id == request] for request in dict.fromkeys(i.request_id for i in items)]
        return [sorted(rows, key=lambda n: -float(grades[n])) for rows in lists]

    model.set_fusion_weights((0.5, 0.5))
    uncalibrated, before = cross_entropy(), orders()
    model.calibrate(fusion_columns(model, items, batch_size=8), labels)
    assert cross_entropy() < 0.8 * uncalibrated  # the head now predicts these labels' grades far better
    assert orders() == before  # and each request is ranked as it was


@pytest.mark.parametrize("calibrate", [False, True])
def test_the_start_fits_the_heads_cuts_only_when_asked(tiny_encoder_folder: Path, context: BuildContext, calibrate: bool) -> None:
    model = _bi_encoder(tiny_encoder_folder, context, ["first_stage_score"])
    cuts = [model.head.first_cut.detach().clone(), model.head.cut_steps.detach().clone()]
    start_from_fusion(model, _items(), "ndcg@3", batch_size=5, calibrate=calibrate)
    unchanged = torch.equal(cuts[0], model.head.first_cut.detach()) and torch.equal(cuts[1], model.head.cut_steps.detach())
    assert unchanged is not calibrate


def _spam_lists(requests: int = 10, candidates: int = 6) -> tuple[list[TrainItem], torch.Tensor]:
    """Lists where the first stage's top candidate is spam (label 0) and its second is the relevant one."""
    items, columns = [], []
    for r in range(requests):
        for c in range(candidates):
            spam, relevant = c == 0, c == 1
            items.append(TrainItem(f"request {r}", f"candidate {c}", label=3 if relevant else 0, request_id=f"r{r}"))
            columns.append([0.1 * ((r + c) % 3), 1.0 - c / candidates, 1.0 if spam else 0.0])
    return items, torch.tensor(columns)


def test_several_features_are_fitted_listwise_and_a_harmful_one_weighs_below_zero() -> None:
    items, columns = _spam_lists()
    weights = fit_listwise(items, columns)
    assert weights[2] < 0 < weights[1]  # the spam flag counts against a candidate, the first stage for it
    fused = columns @ torch.tensor(weights, dtype=columns.dtype)
    for request in {i.request_id for i in items}:
        rows = [n for n, i in enumerate(items) if i.request_id == request]
        assert items[max(rows, key=lambda n: float(fused[n]))].label == 3


def test_a_listwise_fit_without_a_relevant_candidate_weighs_every_column_alike() -> None:
    items = [TrainItem("q", f"c{c}", label=0, request_id="r") for c in range(3)]
    assert fit_listwise(items, torch.rand(3, 3)) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_a_start_with_several_features_is_listwise_and_its_calibration_matches_the_cosines_spread(tiny_encoder_folder: Path) -> None:
    policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
    context = BuildContext(num_labels=4, label_names=tuple(label.name for label in policy.labels), policy=policy, features=("spam",))
    model = _bi_encoder(tiny_encoder_folder, context, ["first_stage_score", "spam"])
    items = [
        TrainItem(i.request_text, i.candidate_text, label=i.label, request_id=i.request_id, features={"first_stage_score": 1.0 - c / 6, "spam": float(c == 0)})
        for c, i in zip([n % 6 for n in range(60)], _spam_lists()[0], strict=True)
    ]
    scale = float(model.head.log_scale.detach())
    fusion = start_from_fusion(model, items, "ndcg@3", batch_size=16, calibrate=True)
    assert fusion is not None and fusion.method == "listwise" and float(model.feature_weights.weight[0, 1]) < 0
    columns = fusion_columns(model, items, batch_size=16)
    fused = columns[:, 0] + model.feature_weights(columns[:, 1:]).squeeze(-1).detach()
    spread = float(model.head.log_scale.detach()) - scale
    assert spread == pytest.approx(float((columns[:, 0].std() / fused.std()).log()), abs=1e-4)
