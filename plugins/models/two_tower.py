"""The two-tower (bi-encoder) ranker: request and candidate encoded apart, scored by one dot product.

Each side is read by a frozen pretrained encoder (mean-pooled states of chosen
layers) and a small trainable tower on top. The dot product of the two tower
outputs is the pair's relevance score; an ordinal head turns it into
probabilities over the label scale, so the expected grade ranks exactly as the
dot product does and the usual losses and evaluators apply.

What makes it cheap to serve: a candidate's vector depends on the candidate
alone. In eval mode each candidate is encoded once and cached, so ranking a
member's candidates costs one encoding of the member plus one dot product per
candidate. Requests are never cached: each one is new when it is served. In
training the encoder is frozen, so its output for a text never changes and is
computed once per text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from stillroom.plugins.models.ordinal import OrdinalHead
from stillroom.plugins.models.pooling import mean_pool

CONFIG_FILE = "stillroom_two_tower.json"
TOWERS_FILE = "towers.safetensors"


def tower(in_width: int, hidden: int, out_width: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(in_width, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, out_width))


class TwoTowerRanker(torch.nn.Module):
    """A :class:`~stillroom.ranker.Ranker` whose score is ``request_tower(r) . candidate_tower(c)``."""

    caches_candidates = True
    """Scored in eval mode, candidate vectors come from a cache after their first use (see the module doc)."""

    def __init__(
        self,
        encoder: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        num_labels: int,
        pooled_layers: Sequence[int],
        tower_hidden: int,
        embedding_dim: int,
    ) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.num_labels = num_labels
        self.pooled_layers = list(pooled_layers)
        self.tower_hidden = tower_hidden
        self.embedding_dim = embedding_dim
        width = encoder.config.hidden_size * len(self.pooled_layers)
        self.request_tower = tower(width, tower_hidden, embedding_dim)
        self.candidate_tower = tower(width, tower_hidden, embedding_dim)
        self.head = OrdinalHead(num_labels)
        self._features: dict[bytes, torch.Tensor] = {}
        self._candidates: dict[bytes, torch.Tensor] = {}

    # -- caches ------------------------------------------------------------------------

    def train(self, mode: bool = True) -> TwoTowerRanker:
        """Switching mode drops the candidate cache (the towers may have trained); the encoder stays in eval mode."""
        if mode != self.training:
            self._candidates.clear()
        super().train(mode)
        self.encoder.eval()
        return self

    def _apply(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Moving or casting the weights (``.to(device)``) leaves cached vectors behind: drop them."""
        self._features.clear()
        self._candidates.clear()
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._candidates.clear()
        super()._load_from_state_dict(*args, **kwargs)

    @staticmethod
    def _keys(ids: torch.Tensor, mask: torch.Tensor) -> list[bytes]:
        """One key per row: its token ids without padding, so a text has the same key in any batch."""
        return [row[row_mask.bool()].cpu().numpy().tobytes() for row, row_mask in zip(ids, mask, strict=True)]

    @staticmethod
    def _first_rows(keys: list[bytes], known: dict[bytes, torch.Tensor]) -> list[int]:
        """The first row of each distinct key that ``known`` lacks."""
        first: dict[bytes, int] = {}
        for row, key in enumerate(keys):
            if key not in known:
                first.setdefault(key, row)
        return list(first.values())

    # -- encoding ----------------------------------------------------------------------

    @torch.no_grad()
    def _encode_frozen(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        return torch.cat([mean_pool(states[layer], mask) for layer in self.pooled_layers], dim=-1)

    def _memoised(
        self, ids: torch.Tensor, mask: torch.Tensor, cache: dict[bytes, torch.Tensor], encode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """``encode`` per row, through ``cache``: each distinct text is encoded once, on its first use."""
        keys = self._keys(ids, mask)
        rows = self._first_rows(keys, cache)
        if rows:
            for row, value in zip(rows, encode(ids[rows], mask[rows]), strict=True):
                cache[keys[row]] = value.detach()
        return torch.stack([cache[key] for key in keys])

    def _frozen_features(self, ids: torch.Tensor, mask: torch.Tensor, memo: bool) -> torch.Tensor:
        """The frozen encoder's features per row; with ``memo``, each distinct text is encoded once ever."""
        return self._memoised(ids, mask, self._features, self._encode_frozen) if memo else self._encode_frozen(ids, mask)

    def encode_requests(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Request vectors; in training the frozen features are memoised, when serving every request is encoded."""
        return self.request_tower(self._frozen_features(ids, mask, memo=self.training))

    def encode_candidates(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Candidate vectors; in eval mode each distinct candidate is encoded once and then read from the cache."""
        if self.training:
            return self.candidate_tower(self._frozen_features(ids, mask, memo=True))
        return self._memoised(ids, mask, self._candidates, lambda i, m: self.candidate_tower(self._encode_frozen(i, m)))

    # -- the Ranker interface ----------------------------------------------------------------

    def tokenize(self, requests: Sequence[str], candidates: Sequence[str]) -> dict[str, torch.Tensor]:
        def encode(texts: Sequence[str]) -> dict[str, torch.Tensor]:
            return dict(self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"))

        request, candidate = encode(requests), encode(candidates)
        return {
            "request_ids": request["input_ids"],
            "request_mask": request["attention_mask"],
            "candidate_ids": candidate["input_ids"],
            "candidate_mask": candidate["attention_mask"],
        }

    def forward_with_hidden(
        self, request_ids: torch.Tensor, request_mask: torch.Tensor, candidate_ids: torch.Tensor, candidate_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits and the pair's representation ``u * v`` (elementwise), whose sum is the score."""
        # A batch holds few distinct requests (a member and its candidates): encode each once.
        keys = self._keys(request_ids, request_mask)
        first_rows = self._first_rows(keys, {})
        position = {keys[row]: i for i, row in enumerate(first_rows)}
        vectors = self.encode_requests(request_ids[first_rows], request_mask[first_rows])
        interaction = vectors[torch.tensor([position[key] for key in keys])] * self.encode_candidates(candidate_ids, candidate_mask)
        return self.head(interaction.sum(-1) / math.sqrt(self.embedding_dim)), interaction

    def forward(
        self, request_ids: torch.Tensor, request_mask: torch.Tensor, candidate_ids: torch.Tensor, candidate_mask: torch.Tensor
    ) -> torch.Tensor:
        return self.forward_with_hidden(request_ids, request_mask, candidate_ids, candidate_mask)[0]

    def save_pretrained(self, directory: Path) -> None:
        """The encoder and tokenizer as a transformers folder, the towers and head beside them."""
        directory = Path(directory)
        self.encoder.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        trained = {k: v.detach().contiguous() for k, v in self.state_dict().items() if not k.startswith("encoder.")}
        save_file(trained, str(directory / TOWERS_FILE))
        meta = {
            "max_length": self.max_length,
            "num_labels": self.num_labels,
            "pooled_layers": self.pooled_layers,
            "tower_hidden": self.tower_hidden,
            "embedding_dim": self.embedding_dim,
        }
        (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def load_two_tower_folder(directory: Path) -> TwoTowerRanker:
    """Load a ranker written by :meth:`TwoTowerRanker.save_pretrained`."""
    directory = Path(directory)
    meta = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    encoder = AutoModel.from_pretrained(directory, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = TwoTowerRanker(
        encoder, tokenizer, meta["max_length"], meta["num_labels"], meta["pooled_layers"], meta["tower_hidden"], meta["embedding_dim"]
    )
    model.load_state_dict(load_file(str(directory / TOWERS_FILE)), strict=False)
    return model.eval()
