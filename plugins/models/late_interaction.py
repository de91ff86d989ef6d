"""The late-interaction ranker: request and candidate encoded apart, their tokens meeting in one cross-attention.

A two-tower model squeezes each side into one vector before the sides meet,
so it cannot see which of the member's skills a posting asks for, or that the
posting's city is the member's. A cross-encoder sees that, but runs its whole
depth over every pair. This ranker sits between them, as PreTTR (MacAvaney et
al., 2020) and the poly-encoder (Humeau et al., 2019) do: the frozen encoder's
token states of each side, at a shallow layer, go through a trainable
projection; then each side's tokens attend to the other side's once, and a
small MLP reads the pooled result. Everything up to the attention depends on
one side alone, so a candidate's tokens (and their keys and values) are
cached when serving, and a pair costs two small attention products and the
MLP (see :mod:`stillroom.plugins.models.frozen_encoder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from stillroom.plugins.models.frozen_encoder import FrozenEncoderRanker, Side, load_frozen_encoder_folder
from stillroom.plugins.models.pooling import mean_pool

PAIR_WIDTH = 256
"""The width of the pair representation the head reads (and ``hidden_mse`` compares with the teacher's)."""


class SideProjection(torch.nn.Module):
    """One side's projection of the frozen token states, with its query, key and value for the cross-attention.

    A side's output per token is ``[state, query, key, value]`` side by side:
    its own state, its query into the other side, and the key and value by
    which the other side reads it.
    """

    def __init__(self, in_width: int, dim: int) -> None:
        super().__init__()
        self.project = torch.nn.Linear(in_width, dim)
        self.qkv = torch.nn.Linear(dim, 3 * dim)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        projected = F.gelu(self.project(states))
        return torch.cat([projected, self.qkv(projected)], dim=-1)


class LateInteractionRanker(FrozenEncoderRanker):
    """A ranker whose request and candidate token states meet in one cross-attention, read by an MLP."""

    config_file = "stillroom_late_interaction.json"

    def __init__(
        self,
        encoder: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        num_labels: int,
        layer: int,
        interaction_dim: int,
        heads: int,
        mlp_hidden: int,
    ) -> None:
        super().__init__(encoder, tokenizer, max_length, num_labels)
        self.layer = layer
        self.interaction_dim = interaction_dim
        self.heads = heads
        self.mlp_hidden = mlp_hidden
        width = encoder.config.hidden_size
        self.request = SideProjection(width, interaction_dim)
        self.candidate = SideProjection(width, interaction_dim)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(5 * interaction_dim, mlp_hidden), torch.nn.GELU(), torch.nn.Linear(mlp_hidden, PAIR_WIDTH), torch.nn.GELU()
        )
        self.head = torch.nn.Linear(PAIR_WIDTH, num_labels)

    def read_states(self, hidden_states: Sequence[torch.Tensor], mask: torch.Tensor, side: Side) -> torch.Tensor:
        return hidden_states[self.layer]

    def request_side(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.request(states)

    def candidate_side(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.candidate(states)

    def _attend(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """Multi-head attention of one side's tokens over the other's real tokens, heads merged again."""
        batch, width = queries.shape[0], queries.shape[-1]

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, x.shape[1], self.heads, width // self.heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(split(queries), split(keys), split(values), attn_mask=key_mask[:, None, None, :])
        return attended.transpose(1, 2).reshape(batch, -1, width)

    def score_pairs(
        self,
        request: torch.Tensor,
        request_mask: torch.Tensor | None,
        candidate: torch.Tensor,
        candidate_mask: torch.Tensor | None,
        features: torch.Tensor | None = None,  # it reads none (pair_features is empty)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits and the MLP's reading of the pair (``[pairs, 256]``), which the head turns into them."""
        assert request_mask is not None and candidate_mask is not None, "late interaction reads token states"
        r, r_query, r_key, r_value = request.chunk(4, dim=-1)
        c, c_query, c_key, c_value = candidate.chunk(4, dim=-1)
        r_reads_c = self._attend(r_query, c_key, c_value, candidate_mask)
        c_reads_r = self._attend(c_query, r_key, r_value, request_mask)
        r_pooled, c_pooled = mean_pool(r, request_mask), mean_pool(c, candidate_mask)
        features = torch.cat(
            [r_pooled, c_pooled, mean_pool(r_reads_c, request_mask), mean_pool(c_reads_r, candidate_mask), r_pooled * c_pooled], dim=-1
        )
        pair = self.mlp(features)
        return self.head(pair), pair

    def settings(self) -> dict[str, Any]:
        return {"layer": self.layer, "interaction_dim": self.interaction_dim, "heads": self.heads, "mlp_hidden": self.mlp_hidden}


def load_late_interaction_folder(directory: Path) -> LateInteractionRanker:
    """Load a ranker written by :meth:`LateInteractionRanker.save_pretrained`."""
    return load_frozen_encoder_folder(directory, LateInteractionRanker)
