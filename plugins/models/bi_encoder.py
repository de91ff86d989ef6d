"""A bi-encoder student that starts where the base model is: the base encoder's own embeddings, adapted.

On a real collection the free model a team starts from is a sentence
encoder read as a bi-encoder (``zero_shot``): the cosine of the mean-pooled
texts. A student cut to one layer of it starts far below that and rarely
climbs back from a few thousand teacher labels. This student keeps the whole
encoder, frozen, read exactly as ``zero_shot`` reads it, and learns a residual
adapter on each side (``x + mlp(layer_norm(x))``, the adapter's last layer
initialised at zero) and an ordinal head over the cosine. At step 0 it ranks
exactly as ``zero_shot`` does; distillation moves it from there.

With ``features: [first_stage_score]`` in its config it also reads the first
stage's score, normalised within the request (:mod:`stillroom.features`), as a
weighted term added to the cosine before the head: the score production hands
a reranker for free, at no serving cost. Before training, its weight is set to
the fusion of cosine and first stage that ranks golden train best
(:mod:`stillroom.training.fusion_start`), so the bi-encoder starts as the
``hybrid`` baseline ranks. That weight then stays as the fusion chose it unless
``learn_feature_weights`` says otherwise, and the adapters learn what the texts
add: where train lists hold judged documents the first stage missed
(``data.add_missed_judged``), relevant though it never chose them, a weight
learned there would unlearn the first stage that serving's lists come from.

It is a :class:`~stillroom.plugins.models.frozen_encoder.FrozenEncoderRanker`:
in training each text is encoded once, so an epoch costs the adapters alone,
and in serving each candidate's vector is cached, so a request costs one
encoding of the request and a cosine per candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from stillroom.plugins.models import feature_fusion
from stillroom.plugins.models.frozen_encoder import FrozenEncoderRanker, Side, load_frozen_encoder_folder
from stillroom.plugins.models.ordinal import CosineOrdinalHead
from stillroom.plugins.models.pooling import mean_pool, unit_product
from stillroom.plugins.models.residual import ResidualAdapter


class AdaptedBiEncoder(FrozenEncoderRanker):
    """A ranker whose score is the cosine of the adapted mean-pooled embeddings of request and candidate."""

    config_file = "stillroom_bi_encoder.json"
    weights_file = "adapters.safetensors"

    def __init__(
        self,
        encoder: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        num_labels: int,
        adapter_hidden: int,
        features: Sequence[str] = (),
        learn_feature_weights: bool = False,
    ) -> None:
        super().__init__(encoder, tokenizer, max_length, num_labels)
        width = encoder.config.hidden_size
        self.adapter_hidden = adapter_hidden
        self.request_adapter = ResidualAdapter(width, adapter_hidden)
        self.candidate_adapter = ResidualAdapter(width, adapter_hidden)
        self.head = CosineOrdinalHead(num_labels)
        self.pair_features = tuple(features)
        self.learn_feature_weights = learn_feature_weights
        self.feature_weights = feature_fusion.feature_weights(self.pair_features, learn_feature_weights)

    def read_states(self, hidden_states: Sequence[torch.Tensor], mask: torch.Tensor, side: Side) -> torch.Tensor:
        return mean_pool(hidden_states[-1], mask)

    def request_side(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.request_adapter(states)

    def candidate_side(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.candidate_adapter(states)

    def score_pairs(
        self,
        request: torch.Tensor,
        request_mask: torch.Tensor | None,
        candidate: torch.Tensor,
        candidate_mask: torch.Tensor | None,
        features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits and the pair's representation (the elementwise product of the unit vectors, whose sum is the cosine).

        With ``pair_features`` the head reads the cosine plus a learned weighting of the features (the first stage's
        score, normalised in its request): the student fuses what production hands it with what it reads.
        """
        interaction = unit_product(request, candidate)
        score = feature_fusion.fused_score(interaction.sum(-1), self.feature_weights, features, self.pair_features)
        return self.head(score), interaction

    def fusion_inputs(
        self,
        request_ids: torch.Tensor,
        request_mask: torch.Tensor,
        candidate_ids: torch.Tensor,
        candidate_mask: torch.Tensor,
        pair_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The cosine of each pair, then its features: what the head reads is their weighted sum."""
        _, interaction = self.forward_with_hidden(request_ids, request_mask, candidate_ids, candidate_mask, pair_features)
        cosine = interaction.sum(-1, keepdim=True)
        return cosine if pair_features is None else torch.cat([cosine, pair_features.to(cosine.dtype)], dim=-1)

    def set_fusion_weights(self, weights: Sequence[float]) -> None:
        """Weigh the features against the cosine as ``weights`` do (:func:`~stillroom.plugins.models.feature_fusion.set_fusion_weights`)."""
        feature_fusion.set_fusion_weights(self.feature_weights, weights)

    def calibrate(self, columns: torch.Tensor, labels: torch.Tensor) -> None:
        """Fit the ordinal head's cuts to ``labels`` on the fused scores (:func:`~stillroom.plugins.models.feature_fusion.calibrate_head`)."""
        feature_fusion.calibrate_head(self.head, self.feature_weights, columns, labels)

    def settings(self) -> dict[str, Any]:
        return {"adapter_hidden": self.adapter_hidden, "features": list(self.pair_features), "learn_feature_weights": self.learn_feature_weights}

    def save_pretrained(self, directory: Path) -> None:
        """The stillroom folder (:meth:`FrozenEncoderRanker.save_pretrained`), a sentence-transformers folder too
        (:mod:`~stillroom.plugins.models.sentence_transformers_export`)."""
        from stillroom.plugins.models.sentence_transformers_export import write_sentence_transformers

        super().save_pretrained(directory)
        write_sentence_transformers(self, Path(directory))


def load_bi_encoder_folder(directory: Path) -> AdaptedBiEncoder:
    """Load a ranker written by :meth:`AdaptedBiEncoder.save_pretrained`."""
    return load_frozen_encoder_folder(directory, AdaptedBiEncoder)
