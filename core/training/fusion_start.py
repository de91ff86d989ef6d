"""Training starts from the best fusion of a model's own score and the first stage's.

A team without stillroom fuses its first stage (BM25) and an encoder, the
weight tuned on a few judged queries (the ``hybrid`` baseline). A model that
adds the features it reads to its own score
(:class:`~stillroom.features.FusesPairFeatures`: a bi-encoder reading
``first_stage_score``) can be exactly that fusion before it learns anything,
so it starts there: its own score and each feature over golden train's lists
as the first stage served them (a judged document it missed is left out, as
serving never sees one), the weights ranx's fusion search ranks them best with
(scores summed as they are, the way the model sums them), set before the
first gradient step; with ``calibrate``, a model that can
(:class:`~stillroom.features.CalibratesFusion`) then fits its head to the same
pairs' labels, so that the first epochs do not spend the ranking on
calibration (a head at its initial cuts started golden dev's cross-entropy
at 1.8 to 3.1 on real collections, and hard-label training then lowered dev
NDCG@10 from the start on every one measured). Selection on golden dev then keeps this start unless an
epoch of training ranks dev better. Golden train has more queries than dev
(on a collection judging test queries only, dev may be five), so the fit is
less a draw of which few queries landed in dev.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from stillroom.evaluation.fusion import Fusion, fit_fusion
from stillroom.features import CalibratesFusion, FusesPairFeatures, model_inputs
from stillroom.ranker import bulk_scoring
from stillroom.training.loop import TrainItem

STEP = 0.05
"""ranx's grid over the weights: a model's own score against one feature is 21 fusions to score."""
GRID_COLUMNS = 2
"""Up to this many columns (its own score and one feature) ranx's grid fits the weights, as ``hybrid``'s are fitted;
with more, the grid grows as 21 to the power of the features and cannot weigh a feature below zero (a spam flag), so
a listwise fit does (:func:`fit_listwise`)."""
LISTWISE_STEPS = 200
LISTWISE_DECAY = 1e-3
"""The L2 penalty on the listwise fit's weights: features that never vary in golden train stay at zero."""


def fusion_columns(model: FusesPairFeatures, items: Sequence[TrainItem], batch_size: int) -> torch.Tensor:
    """``[items, 1 + features]``: the model's own score of each item, then the features it adds to it."""
    was_training = model.training
    model.eval()
    columns = []
    with torch.no_grad(), bulk_scoring(model):
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            inputs = model_inputs(model, [i.request_text for i in batch], [i.candidate_text for i in batch], [i.features for i in batch])
            columns.append(model.fusion_inputs(**inputs).float())
    model.train(was_training)
    return torch.cat(columns)


def fit_listwise(items: Sequence[TrainItem], columns: torch.Tensor) -> tuple[float, ...]:
    """The weights of ``columns`` (``[items, n]``) whose weighted sum ranks each request's items as their labels do,
    by a listwise softmax cross-entropy (between each list's softmax of scores and its share of NDCG gain, ``2**label -
    1``), by L-BFGS from equal weights; requests with no positive label are left out, and with none left the weights are
    equal."""
    rows: dict[str, list[int]] = {}
    for row, item in enumerate(items):
        rows.setdefault(item.request_id, []).append(row)
    gains = torch.tensor([max(2.0**item.label - 1.0, 0.0) for item in items])
    lists = [torch.tensor(r) for r in rows.values() if gains[r].sum() > 0]
    weights = torch.ones(columns.shape[1], dtype=torch.float64)
    if not lists:
        return tuple(float(w) / columns.shape[1] for w in weights)
    x, gains = columns.double(), gains.double()
    weights.requires_grad_(True)
    optimizer = torch.optim.LBFGS([weights], lr=1.0, max_iter=LISTWISE_STEPS, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        scores = x @ weights
        loss = sum(-(gains[r] / gains[r].sum() * torch.log_softmax(scores[r], dim=0)).sum() for r in lists) / len(lists)
        loss = loss + LISTWISE_DECAY * (weights**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return tuple(float(w) for w in weights.detach())


def start_from_fusion(model: object, items: Sequence[TrainItem], metric: str, batch_size: int, calibrate: bool = False) -> Fusion | None:
    """Set ``model``'s fusion weights to those ranking ``items`` (labeled: golden train as served) best by ``metric``, and
    with ``calibrate`` fit its head to their labels; the fusion, or ``None`` for a model that fuses nothing (or no items)."""
    if not isinstance(model, FusesPairFeatures) or not model.pair_features or not items:
        return None
    columns = fusion_columns(model, items, batch_size)
    if columns.shape[1] <= GRID_COLUMNS:
        fusion = fit_fusion(items, list(columns.unbind(dim=1)), metric, norm=None, step=STEP)
    else:
        fusion = Fusion("listwise", None, fit_listwise(items, columns))
    model.set_fusion_weights(fusion.weights)
    if calibrate and isinstance(model, CalibratesFusion):
        model.calibrate(columns, torch.tensor([item.label for item in items]))
    return fusion
