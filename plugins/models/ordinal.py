"""An ordinal head: one relevance score to probabilities over ordered grades.

Used where a model's natural output is a single score (a causal LM's yes/no
log-odds, a two-tower dot product): the expected grade then ranks exactly as
the score does, and the label-scale losses and the gate still apply.
"""

from __future__ import annotations

import torch


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
        at_least = torch.sigmoid(score.unsqueeze(-1) - self.cut_points())  # P(label >= k), k = 1..K-1
        ones, zeros = torch.ones_like(score).unsqueeze(-1), torch.zeros_like(score).unsqueeze(-1)
        bounds = torch.cat([ones, at_least, zeros], dim=-1)
        probs = (bounds[:, :-1] - bounds[:, 1:]).clamp_min(1e-7)
        return probs.log()  # log-probabilities are valid logits: softmax gives the probabilities back
