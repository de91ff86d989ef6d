"""The ``zero_shot`` baseline for each model family: the teacher's base model used as it ships, untrained.

* An encoder ranks by the cosine of the mean-pooled embeddings of request and
  candidate, the way sentence-transformers models are meant to be used. It
  serves as :class:`OffTheShelfBiEncoder` (each candidate's vector cached, one
  encoding per request), the form the evaluate stage times, so the report sets
  the free model's cost per request beside the student's.
* A causal LM ranks by the prompted P("yes"), as the judge does before any
  fine-tuning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from stillroom.plugins.models.frozen_encoder import FrozenEncoderRanker, Side, text_keys
from stillroom.plugins.models.ordinal import CosineOrdinalHead
from stillroom.plugins.models.pooling import mean_pool, unit_product
from stillroom.plugins.models.vector_store import VectorStore

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from stillroom.plugins.models.causal_lm_judge import CausalLMJudge

BATCH_SIZE = 64


class OffTheShelfBiEncoder(FrozenEncoderRanker):
    """The base encoder as a team would serve it untrained: the cosine of mean-pooled embeddings, each candidate's
    vector cached, under an untrained ordinal head (only the order counts). What the ``zero_shot`` baseline costs."""

    config_file = "stillroom_off_the_shelf.json"

    def __init__(self, encoder: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, max_length: int, num_labels: int) -> None:
        super().__init__(encoder, tokenizer, max_length, num_labels)
        self.head = CosineOrdinalHead(num_labels)

    def read_states(self, hidden_states: Sequence[torch.Tensor], mask: torch.Tensor, side: Side) -> torch.Tensor:
        return mean_pool(hidden_states[-1], mask)

    def request_side(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return states

    def candidate_side(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return states

    def score_pairs(
        self,
        request: torch.Tensor,
        request_mask: torch.Tensor | None,
        candidate: torch.Tensor,
        candidate_mask: torch.Tensor | None,
        features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        interaction = unit_product(request, candidate)
        return self.head(interaction.sum(-1)), interaction

    def settings(self) -> dict[str, object]:
        return {}


class EmbeddingCosineScorer:
    """Cosine of mean-pooled embeddings; each distinct text is embedded once."""

    def __init__(
        self, encoder: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, max_length: int, store: VectorStore | None = None, num_labels: int = 2
    ) -> None:
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.num_labels = num_labels
        self.params = sum(p.numel() for p in encoder.parameters())
        self.store = store
        """The vectors of texts this encoder has read before (a baseline is never timed, so it may reuse them)."""

    @torch.inference_mode()
    def _embed(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        unique = list(dict.fromkeys(texts))
        vectors = {}
        for start in range(0, len(unique), BATCH_SIZE):
            batch = unique[start : start + BATCH_SIZE]
            features = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")

            def encode(rows: list[int], features: dict = features) -> torch.Tensor:
                chosen = {name: value[rows] for name, value in features.items()}
                return mean_pool(self.encoder(**chosen).last_hidden_state, chosen["attention_mask"])

            if self.store is None:
                pooled = list(encode(list(range(len(batch)))))
            else:
                pooled = self.store.vectors(text_keys(features["input_ids"], features["attention_mask"]), encode)
            vectors.update(zip(batch, pooled, strict=True))
        if self.store is not None:
            self.store.flush()
        return vectors

    def serving_ranker(self) -> OffTheShelfBiEncoder:
        """This scorer as it would serve (:class:`~stillroom.baselines.ServesAsRanker`): the same cosines, each candidate's vector cached."""
        return OffTheShelfBiEncoder(self.encoder, self.tokenizer, self.max_length, self.num_labels)

    def score(self, requests: Sequence[str], candidates: Sequence[str]) -> torch.Tensor:
        embedded = self._embed([*requests, *candidates])
        left = torch.stack([embedded[r] for r in requests])
        right = torch.stack([embedded[c] for c in candidates])
        return F.cosine_similarity(left, right, dim=-1)


class PromptedYesScorer:
    """P("yes") of an untrained causal-LM judge: the prompt alone, no LoRA, no learned head."""

    def __init__(self, judge: CausalLMJudge) -> None:
        self.judge = judge.for_inference().eval()
        self.params = sum(p.numel() for p in self.judge.lm.parameters())

    @torch.inference_mode()
    def score(self, requests: Sequence[str], candidates: Sequence[str]) -> torch.Tensor:
        scores = []
        for start in range(0, len(requests), BATCH_SIZE):
            features = self.judge.tokenize(requests[start : start + BATCH_SIZE], candidates[start : start + BATCH_SIZE])
            scores.append(self.judge.p_yes(**features))
        return torch.cat(scores) if scores else torch.empty(0)
