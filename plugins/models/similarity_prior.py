"""A cross-encoder that starts where its base model is: the base model's own similarity as a prior, plus a learned correction.

A sentence-transformers encoder (all-MiniLM-L6-v2) was trained to be read as a
bi-encoder: the cosine of the mean-pooled embeddings of two texts. A
cross-encoder built on it with a fresh head throws that away and must learn
relevance again from a few hundred requests; on a real collection it ends below
the untrained model (NFCorpus: 0.30 NDCG@10 against zero-shot's 0.48).

Here the label distribution is an ordinal model of that cosine, ``P(label >= k)
= sigmoid(scale * (cosine - cut_k))``, whose expected grade rises with the
cosine, plus the usual head over the pooled cross-encoding, initialised at
zero. At step 0 the model therefore ranks exactly as ``zero_shot`` does, and
training can only move it from there: the cuts and the scale learn the
policy's scale, the cross-encoder (a LoRA adapter and the zero-initialised head)
learns what the similarity misses.

The prior is the base model's own: the same encoder with the LoRA adapter
switched off, read in eval mode (no dropout), so it costs no extra weights.
Each distinct text is encoded for it once and remembered, so a training epoch
pays for the prior only on its first pass over a text.

With ``features`` in its config it also reads the pair's features (the first
stage's score, the product's declared ones), weighted and added to the cosine
the prior reads (:mod:`~stillroom.plugins.models.feature_fusion`): it starts
from the fusion of the base model's cosine and the features that ranks golden
train best, and the cross-encoder learns what they miss.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from stillroom.compat.torch import DropsCachesWhenMoved
from stillroom.features import INPUT as FEATURES_INPUT
from stillroom.plugins.models import feature_fusion
from stillroom.plugins.models.cross_encoder import MeanPoolingClassifier
from stillroom.plugins.models.frozen_encoder import text_keys
from stillroom.plugins.models.ordinal import CosineOrdinalHead
from stillroom.plugins.models.pooling import mean_pool

SIDES = ("request", "candidate")
"""Each side's own tokenization rides along with the pair's: ``request_input_ids``, ``request_attention_mask``, ..."""


class SimilarityPriorClassifier(DropsCachesWhenMoved, MeanPoolingClassifier):
    """A mean-pooled cross-encoder head whose logits add an ordinal model of the base model's cosine (see the module doc)."""

    mergeable = False
    """The prior reads the encoder with its adapter off: folding the adapter in would change the prior."""
    reads_sides = True
    """The ranker's tokenizer gives each side alone too, for the prior."""

    def __init__(
        self, encoder: torch.nn.Module, num_labels: int, dropout: float, features: Sequence[str] = (), learn_feature_weights: bool = True
    ) -> None:
        super().__init__(encoder, num_labels, dropout)
        if not callable(getattr(encoder, "disable_adapter", None)):
            raise ValueError("a similarity prior needs a LoRA adapter on the encoder: the prior is the encoder with it off")
        # The pooled states of an encoder trained for cosine share a large common part and vary little around it
        # (MiniLM: norm 3.2, spread 0.1 per dimension): normalised, a head starting at zero can move the logits.
        self.correction_norm = torch.nn.LayerNorm(encoder.config.hidden_size)
        torch.nn.init.zeros_(self.classifier.weight)
        torch.nn.init.zeros_(self.classifier.bias)
        self.prior = CosineOrdinalHead(num_labels)
        self.pair_features = tuple(features)
        self.feature_weights = feature_fusion.feature_weights(self.pair_features, learn_feature_weights)
        self._embeddings: dict[bytes, torch.Tensor] = {}

    # -- the prior -----------------------------------------------------------------------

    @contextmanager
    def _base_model(self) -> Iterator[None]:
        """The encoder as it shipped: adapter off, eval mode, no gradient."""
        training = self.encoder.training
        self.encoder.eval()
        try:
            with torch.no_grad(), self.encoder.disable_adapter():
                yield
        finally:
            self.encoder.train(training)

    def _embed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Each row's mean-pooled base embedding, each distinct text encoded once for the model's lifetime."""
        keys = text_keys(ids, mask)
        new = list({key: row for row, key in enumerate(keys) if key not in self._embeddings}.values())
        if new:
            with self._base_model():
                hidden = self.encoder(input_ids=ids[new], attention_mask=mask[new]).last_hidden_state
                for row, vector in zip(new, mean_pool(hidden, mask[new]), strict=True):
                    self._embeddings[keys[row]] = vector
        return torch.stack([self._embeddings[key] for key in keys])

    def similarity(self, sides: dict[str, torch.Tensor]) -> torch.Tensor:
        """The cosine of the request's and the candidate's base embeddings, what ``zero_shot`` ranks by."""
        request = self._embed(sides["request_input_ids"], sides["request_attention_mask"])
        candidate = self._embed(sides["candidate_input_ids"], sides["candidate_attention_mask"])
        return F.cosine_similarity(request, candidate, dim=-1)

    # -- the ranker ----------------------------------------------------------------------

    def forward_with_hidden(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        sides = {name: features.pop(name) for name in list(features) if name.startswith(SIDES)}
        pair_features = features.pop(FEATURES_INPUT, None)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **features).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)
        correction = self.classifier(self.dropout(self.correction_norm(pooled)))
        score = feature_fusion.fused_score(self.similarity(sides), self.feature_weights, pair_features, self.pair_features)
        return self.prior(score) + correction, pooled

    # -- fusing the features (stillroom.features.CalibratesFusion) ----------------------------

    def fusion_inputs(self, **inputs: torch.Tensor) -> torch.Tensor:
        """The base model's cosine of each pair, then its features: what the prior reads is their weighted sum."""
        sides = {name: value for name, value in inputs.items() if name.startswith(SIDES)}
        cosine = self.similarity(sides).unsqueeze(-1)
        features = inputs.get(FEATURES_INPUT)
        return cosine if features is None else torch.cat([cosine, features.to(cosine.dtype)], dim=-1)

    def set_fusion_weights(self, weights: Sequence[float]) -> None:
        feature_fusion.set_fusion_weights(self.feature_weights, weights)

    def calibrate(self, columns: torch.Tensor, labels: torch.Tensor) -> None:
        """Fit the prior's cuts to ``labels`` on the fused scores; the correction starts at zero, so they are the model's."""
        feature_fusion.calibrate_head(self.prior, self.feature_weights, columns, labels)

    def weights_moved(self) -> None:
        """Moving or casting the weights leaves remembered embeddings behind: drop them."""
        self._embeddings = {}
