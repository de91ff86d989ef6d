"""A ranker's own cosine plus a weighted sum of the pair's features, read by one ordinal head: what the bi-encoder
and the similarity-prior cross-encoder share when they read features (:class:`~stillroom.features.CalibratesFusion`).

The weights start at zero (the model ranks as it would without features), the engine sets them to the fusion that
ranks golden train best before the first step (:mod:`stillroom.training.fusion_start`), and a model learns them
from there only when asked (``learn_feature_weights``). The head's scale stays in cosine units, so the cosine keeps
a unit weight and the features' weights are divided by the cosine's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from stillroom.plugins.models.ordinal import CosineOrdinalHead

CALIBRATION_STEPS = 100
"""L-BFGS iterations fitting the head's cuts (a number per grade boundary): it converges in tens."""

SPREAD_MATCHED_FROM = 2
"""Columns (the cosine and one feature) up to which calibration keeps the head's scale as it is."""

MIN_COSINE_SHARE = 0.1
"""The least weight the cosine keeps against the largest feature's when a fusion would drop it."""


def feature_weights(names: Sequence[str], learn: bool) -> torch.nn.Linear | None:
    """What each feature adds to the cosine: zero until the engine sets the fusion's, learned only when ``learn``."""
    if not names:
        return None
    layer = torch.nn.Linear(len(names), 1, bias=False)
    torch.nn.init.zeros_(layer.weight)
    layer.weight.requires_grad_(learn)
    return layer


def fused_score(cosine: torch.Tensor, weights: torch.nn.Linear | None, features: torch.Tensor | None, names: Sequence[str]) -> torch.Tensor:
    """The cosine plus the weighted features (``[batch, len(names)]``); the cosine alone for a model that reads none."""
    if weights is None:
        return cosine
    if features is None:
        raise ValueError(f"this model reads {', '.join(names)}: pass pair_features")
    return cosine + weights(features.to(cosine.dtype)).squeeze(-1)


def set_fusion_weights(weights: torch.nn.Linear | None, fusion: Sequence[float]) -> None:
    """Weigh the features against the cosine as ``fusion`` (the cosine's weight first) does; the cosine keeps its unit
    weight, at least a tenth of the largest feature's so that it still breaks their ties."""
    if weights is None or len(fusion) != 1 + weights.in_features:
        raise ValueError(f"expected a weight for the cosine and each feature, got {list(fusion)}")
    own = max(float(fusion[0]), MIN_COSINE_SHARE * max(abs(float(w)) for w in fusion[1:]), 1e-6)
    with torch.no_grad():
        weights.weight.copy_(torch.tensor([list(fusion[1:])], dtype=torch.float32) / own)


def calibrate_head(head: CosineOrdinalHead, weights: torch.nn.Linear | None, columns: torch.Tensor, labels: torch.Tensor) -> None:
    """Fit ``head``'s cuts to ``labels`` on the fused scores of ``columns`` (the cosine, then the features), by L-BFGS on
    the cross-entropy, everything else held: the cuts start where these pairs put them, not at cosines that suit
    all-MiniLM-L6-v2's unrelated and near-duplicate texts. The scale is not fitted: on pairs a feature separates, a
    fitted scale grows until every grade saturates and the ranking ties. With several features it is set once, so that
    the fused score spreads over the head as the cosine alone does: their weights in cosine units span tens (a
    feature worth ten cosines), and at the cosine's scale every grade saturated (feed: dev cross-entropy 9.6, its
    expected grades tied)."""
    with torch.no_grad():
        score = columns[:, 0] + (weights(columns[:, 1:]).squeeze(-1) if weights is not None else 0.0)
        if columns.shape[1] > SPREAD_MATCHED_FROM and score.std() > 0 and columns[:, 0].std() > 0:
            head.log_scale.add_((columns[:, 0].std() / score.std()).log())
    cuts = [head.first_cut, head.cut_steps]
    optimizer = torch.optim.LBFGS(cuts, lr=1.0, max_iter=CALIBRATION_STEPS, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.nll_loss(head(score.float()), labels.long())
        loss.backward()
        return loss

    optimizer.step(closure)
