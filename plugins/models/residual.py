"""A residual adapter on a sentence embedding: the identity until training moves it."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class ResidualAdapter(torch.nn.Module):
    """``x + mlp(layer_norm(x))`` with the MLP's output layer at zero: the identity until training moves it.

    The layer norm matters: a sentence encoder's pooled vectors share a large
    common part and vary little around it, and the adapter should read the part that varies.
    """

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(width)
        self.up = torch.nn.Linear(width, hidden)
        self.down = torch.nn.Linear(hidden, width)
        torch.nn.init.zeros_(self.down.weight)
        torch.nn.init.zeros_(self.down.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(F.gelu(self.up(self.norm(x))))
