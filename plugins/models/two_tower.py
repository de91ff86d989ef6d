"""The two-tower (bi-encoder) ranker: request and candidate encoded apart, scored by one dot product.

Each side is read by the frozen pretrained encoder (mean-pooled states of
chosen layers) and a small trainable tower on top. The sides may read
different depths: a request is encoded on every call, a candidate once, so
the request side can read shallow states (down to the embeddings alone)
while the candidate side reads deeper ones at no cost to serving. The dot
product of the two tower outputs is the pair's relevance score; an ordinal head turns it into
probabilities over the label scale, so the expected grade ranks exactly as the
dot product does and the usual losses and evaluators apply. Serving caches each
candidate's vector (see :mod:`stillroom.plugins.models.frozen_encoder`), so a
candidate costs one dot product.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from stillroom.plugins.models.frozen_encoder import FrozenEncoderRanker, Side, load_frozen_encoder_folder
from stillroom.plugins.models.ordinal import OrdinalHead
from stillroom.plugins.models.pooling import mean_pool


def tower(in_width: int, hidden: int, out_width: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(in_width, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, out_width))


class TwoTowerRanker(FrozenEncoderRanker):
    """A ranker whose score is ``request_tower(r) . candidate_tower(c)``."""

    config_file = "stillroom_two_tower.json"
    weights_file = "towers.safetensors"

    def __init__(
        self,
        encoder: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        num_labels: int,
        request_layers: Sequence[int],
        candidate_layers: Sequence[int],
        tower_hidden: int,
        embedding_dim: int,
    ) -> None:
        super().__init__(encoder, tokenizer, max_length, num_labels)
        self.layers: dict[Side, list[int]] = {"request": list(request_layers), "candidate": list(candidate_layers)}
        self.tower_hidden = tower_hidden
        self.embedding_dim = embedding_dim
        width = encoder.config.hidden_size
        self.request_tower = tower(width * len(request_layers), tower_hidden, embedding_dim)
        self.candidate_tower = tower(width * len(candidate_layers), tower_hidden, embedding_dim)
        self.head = OrdinalHead(num_labels)

    def depth(self, side: Side) -> int:
        return max(self.layers[side])

    def read_states(self, hidden_states: Sequence[torch.Tensor], mask: torch.Tensor, side: Side) -> torch.Tensor:
        return torch.cat([mean_pool(hidden_states[layer], mask) for layer in self.layers[side]], dim=-1)

    def request_side(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.request_tower(states)

    def candidate_side(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.candidate_tower(states)

    def score_pairs(
        self,
        request: torch.Tensor,
        request_mask: torch.Tensor | None,
        candidate: torch.Tensor,
        candidate_mask: torch.Tensor | None,
        features: torch.Tensor | None = None,  # it reads none (pair_features is empty)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits and the pair's representation ``u * v`` (elementwise), whose sum is the score."""
        interaction = request * candidate
        return self.head(interaction.sum(-1) / math.sqrt(self.embedding_dim)), interaction

    def encode_requests(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Request vectors, one row each."""
        return self.request_batch(ids, mask)[0]

    def encode_candidates(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Candidate vectors, one row each; in eval mode from the cache after a candidate's first use."""
        return self.candidate_batch(ids, mask)[0]

    def settings(self) -> dict[str, Any]:
        return {
            "request_layers": self.layers["request"],
            "candidate_layers": self.layers["candidate"],
            "tower_hidden": self.tower_hidden,
            "embedding_dim": self.embedding_dim,
        }


def load_two_tower_folder(directory: Path) -> TwoTowerRanker:
    """Load a ranker written by :meth:`TwoTowerRanker.save_pretrained`."""
    return load_frozen_encoder_folder(directory, TwoTowerRanker)
