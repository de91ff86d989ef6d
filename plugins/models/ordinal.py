"""Ordinal heads: one relevance score to probabilities over ordered grades.

Used where a model's natural output is a single score (a causal LM's yes/no
log-odds, a two-tower dot product, a cosine): the expected grade then ranks
exactly as the score does, and the label-scale losses and the gate still apply.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ordinal_log_probs(at_least: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of each grade from ``P(label >= k)`` for k = 1..K-1 (``[n, K - 1]``, falling in k)."""
    ones, zeros = torch.ones_like(at_least[:, :1]), torch.zeros_like(at_least[:, :1])
    bounds = torch.cat([ones, at_least, zeros], dim=-1)
    return (bounds[:, :-1] - bounds[:, 1:]).clamp_min(1e-6).log()  # log-probabilities are valid logits


class OrdinalHead(torch.nn.Module):
    """Cumulative-logit probabilities over ``num_labels`` ordered grades from one score."""

    def __init__(self, num_labels: int) -> None:
        super().__init__()
        self.first_cut = torch.nn.Parameter(torch.tensor(-1.5))
        # Gaps between cut points pass through softplus, so the cuts stay in order whatever training does.
        self.gaps = torch.nn.Parameter(torch.full((num_labels - 2,), 0.5413))  # softplus(0.5413) = 1.0

    def cut_points(self) -> torch.Tensor:
        return torch.cat([self.first_cut.view(1), self.first_cut + torch.nn.functional.softplus(self.gaps).cumsum(0)])

    def forward(self, score: torch.Tensor) -> torch.Tensor:
        return ordinal_log_probs(torch.sigmoid(score.unsqueeze(-1) - self.cut_points()))


class CosineOrdinalHead(torch.nn.Module):
    """``P(label >= k) = sigmoid(scale * (cosine - cut_k))``: a sentence encoder's cosine on the policy's scale.

    The cuts live in cosine units, where an optimizer's steps are the right
    size: the first as is, the later ones as positive steps from it. They start
    evenly between ``INITIAL_CUTS``, which spans the cosines all-MiniLM-L6-v2
    gives unrelated and near-duplicate texts; the scale and the cuts are learned.
    """

    INITIAL_SCALE = 10.0
    INITIAL_CUTS = (0.2, 0.7)

    def __init__(self, num_labels: int) -> None:
        super().__init__()
        cuts = torch.linspace(self.INITIAL_CUTS[0], self.INITIAL_CUTS[-1], num_labels - 1)
        self.log_scale = torch.nn.Parameter(torch.tensor(self.INITIAL_SCALE).log())
        self.first_cut = torch.nn.Parameter(cuts[:1].clone())
        self.cut_steps = torch.nn.Parameter(torch.log(torch.expm1(cuts.diff())))

    def cuts(self) -> torch.Tensor:
        """The cosine at which each grade becomes the likelier side of its boundary, in increasing order."""
        return torch.cat([self.first_cut, self.first_cut + torch.cumsum(F.softplus(self.cut_steps), 0)])

    def forward(self, cosine: torch.Tensor) -> torch.Tensor:
        return ordinal_log_probs(torch.sigmoid(self.log_scale.exp() * (cosine.unsqueeze(-1) - self.cuts())))
