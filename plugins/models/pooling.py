"""Mean pooling over the attention mask: how sentence-transformers encoders were trained to be read."""

from __future__ import annotations

import torch


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``[batch, tokens, width]`` states to ``[batch, width]``: the mean over real tokens, padding left out."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def unit_product(request: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
    """The elementwise product of the two unit vectors: a bi-encoder pair's representation, whose sum is the cosine."""
    return torch.nn.functional.normalize(request, dim=-1) * torch.nn.functional.normalize(candidate, dim=-1)
