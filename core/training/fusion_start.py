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


def start_from_fusion(model: object, items: Sequence[TrainItem], metric: str, batch_size: int, calibrate: bool = False) -> Fusion | None:
    """Set ``model``'s fusion weights to those ranking ``items`` (labeled: golden train as served) best by ``metric``, and
    with ``calibrate`` fit its head to their labels; the fusion, or ``None`` for a model that fuses nothing (or no items)."""
    if not isinstance(model, FusesPairFeatures) or not model.pair_features or not items:
        return None
    columns = fusion_columns(model, items, batch_size)
    fusion = fit_fusion(items, list(columns.unbind(dim=1)), metric, norm=None, step=STEP)
    model.set_fusion_weights(fusion.weights)
    if calibrate and isinstance(model, CalibratesFusion):
        model.calibrate(columns, torch.tensor([item.label for item in items]))
    return fusion
