"""Rankers that read the request and the candidate apart, through a frozen pretrained encoder.

What they share, and what makes them cheap to serve: a candidate's side of the
model depends on the candidate alone. In eval mode each candidate is encoded
once and cached, so ranking a member's candidates costs one encoding of the
member plus the pairwise part of the model per candidate. Requests are never
cached: each one is new when it is served, and each distinct request of a
batch (a member and its candidates) is encoded once. In training the encoder
is frozen, so what it says of a text never changes and is computed once per
text.

A subclass says what it reads from the encoder's hidden states
(:meth:`FrozenEncoderRanker.read_states`), what each side's trainable part
makes of that (:meth:`~FrozenEncoderRanker.request_side`,
:meth:`~FrozenEncoderRanker.candidate_side`) and how the two sides score a pair
(:meth:`~FrozenEncoderRanker.score_pairs`). Each works on a batch: a vector
per text (``[texts, width]``), or a state per token (``[texts, tokens, width]``
with a ``[texts, tokens]`` mask of the real tokens). Memo and cache keep one
tensor per text, without padding; the trainable parts always see whole
batches, so that backpropagation stays one pass over a few large tensors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from stillroom.compat.torch import DropsCachesWhenMoved
from stillroom.plugins.models.spawn_safe import SpawnSafe
from stillroom.plugins.models.vector_store import VectorStore

Rows = list[torch.Tensor]
"""One tensor per text: a vector, or a ``[tokens, width]`` matrix without padding."""

Side = Literal["request", "candidate"]
TRAINED_FILE = "trained.safetensors"
SelfType = TypeVar("SelfType", bound="FrozenEncoderRanker")


@contextmanager
def first_layers(encoder: torch.nn.Module, depth: int) -> Iterator[None]:
    """Inside the block, ``encoder`` runs its embeddings and first ``depth`` layers only (a BERT-family encoder).

    A side that reads shallow states need not pay for the layers that only the other side reads.
    """
    layers = encoder.encoder.layer
    encoder.encoder.layer = layers[:depth]
    try:
        yield
    finally:
        encoder.encoder.layer = layers


def text_keys(ids: torch.Tensor, mask: torch.Tensor) -> list[bytes]:
    """One key per row: its token ids without padding, so a text has the same key in any batch.

    Read in numpy: serving computes keys for every pair, and indexing tensor rows one by one cost more than the cached model itself.
    """
    real = mask.bool().cpu().numpy()
    return [row[row_real].tobytes() for row, row_real in zip(ids.cpu().numpy(), real, strict=True)]


def rows_of(batch: torch.Tensor, mask: torch.Tensor | None) -> Rows:
    """A batch as one tensor per text: each text's vector, or its real tokens' states."""
    if batch.dim() == 2:
        return list(batch)
    assert mask is not None, "a batch of token states needs its mask"
    return [row[row_mask.bool()] for row, row_mask in zip(batch, mask, strict=True)]


def batch_of(rows: Rows) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The inverse of :func:`rows_of`: vectors stacked (no mask), or token states padded with a boolean mask of the real tokens."""
    if rows[0].dim() == 1:
        return torch.stack(rows), None
    batch = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
    lengths = torch.tensor([row.shape[0] for row in rows], device=batch.device)
    return batch, torch.arange(batch.shape[1], device=batch.device) < lengths.unsqueeze(1)


class FrozenEncoderRanker(SpawnSafe, DropsCachesWhenMoved):
    """A :class:`~stillroom.ranker.Ranker` over a frozen encoder, with a request side, a candidate side and a pairwise score."""

    caches_candidates = True
    """Scored in eval mode, candidate sides come from a cache after their first use (see the module doc)."""
    config_file: ClassVar[str]
    """The JSON file beside the exported encoder that holds :meth:`settings`."""
    weights_file: ClassVar[str] = TRAINED_FILE

    pair_features: tuple[str, ...] = ()
    """The engine's pair features it reads beside the texts (:mod:`stillroom.features`); a subclass that reads
    them sets it from its config and uses them in :meth:`score_pairs`."""

    def __init__(self, encoder: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, max_length: int, num_labels: int) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.num_labels = num_labels
        self._frozen: dict[Side, dict[bytes, torch.Tensor]] = {"request": {}, "candidate": {}}
        self._candidates: dict[bytes, torch.Tensor] = {}
        self.vector_store: VectorStore | None = None
        """Where the frozen readings of texts are kept between stages and runs, for a subclass whose reading is one
        vector per text (set by its builder); read in training and in bulk scoring only."""
        self._bulk = False
        self._every_layer_hooked = False
        self._hook_every_layer()

    def _hook_every_layer(self) -> None:
        """transformers hooks the layers whose hidden states it records on the model's first forward pass, and only
        the layers that pass runs: run them all once, so that a side stopping early (first_layers) still records its own.
        Pickling drops the hooks (:class:`~stillroom.plugins.models.spawn_safe.SpawnSafe`); the next encoding hooks them again."""
        if not self._every_layer_hooked:
            with torch.no_grad():
                self.encoder(input_ids=torch.zeros((1, 1), dtype=torch.long, device=self.encoder.device), output_hidden_states=True)
            self._every_layer_hooked = True

    def __getstate__(self) -> dict[str, Any]:
        self._every_layer_hooked = False  # the state pickled: its hooks are dropped
        return super().__getstate__()

    # -- what a subclass defines ----------------------------------------------------------

    def read_states(self, hidden_states: Sequence[torch.Tensor], mask: torch.Tensor, side: Side) -> torch.Tensor:
        """What ``side`` reads of each text from the frozen encoder's hidden states (embeddings first, up to
        :meth:`depth`): ``[texts, width]``, or ``[texts, tokens, width]`` read with ``mask``."""
        raise NotImplementedError

    def depth(self, side: Side) -> int:
        """How many of the encoder's layers ``side`` reads; its encoding stops there. All of them, unless a subclass says less."""
        return len(self.encoder.encoder.layer)

    def request_side(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The trainable request side of a batch of distinct requests, in the shape of ``states``."""
        raise NotImplementedError

    def candidate_side(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The trainable candidate side of a batch of candidates, in the shape of ``states``: what the serving cache keeps."""
        raise NotImplementedError

    def score_pairs(
        self,
        request: torch.Tensor,
        request_mask: torch.Tensor | None,
        candidate: torch.Tensor,
        candidate_mask: torch.Tensor | None,
        features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits over the label scale and a pooled representation of each pair (for ``hidden_mse``), row by row;
        ``features`` are the pairs' :attr:`pair_features` (``[pairs, len(pair_features)]``) for a ranker that reads them."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """The constructor's arguments beyond encoder and tokenizer, for :func:`load_frozen_encoder_folder`."""
        raise NotImplementedError

    # -- caches ------------------------------------------------------------------------

    @contextmanager
    def bulk_scoring(self) -> Iterator[None]:
        """Scoring many pairs, untimed (labeling, evaluation): each text's frozen reading is computed once, through the
        vector store when there is one (:class:`~stillroom.ranker.ScoresInBulk`)."""
        self._bulk = True
        try:
            yield
        finally:
            self._bulk = False
            if self.vector_store is not None:
                self.vector_store.flush()

    def train(self: SelfType, mode: bool = True) -> SelfType:
        """Switching mode drops the candidate cache (the trainable part may have changed); the encoder stays in eval mode.
        Leaving training writes the frozen readings it computed to the vector store."""
        if mode != self.training:
            self._candidates.clear()
            if not mode and self.vector_store is not None:
                self.vector_store.flush()
        super().train(mode)
        self.encoder.eval()
        return self

    def weights_moved(self) -> None:
        """Moving or casting the weights (``.to(device)``) leaves cached tensors behind: drop them."""
        for memo in self._frozen.values():
            memo.clear()
        self._candidates.clear()

    def weights_loaded(self) -> None:
        """New trainable weights: the cached candidates are stale; the frozen encoder's states are not."""
        self._candidates.clear()

    _keys = staticmethod(text_keys)

    @staticmethod
    def _first_rows(keys: list[bytes], known: dict[bytes, torch.Tensor]) -> list[int]:
        """The first row of each distinct key that ``known`` lacks."""
        first: dict[bytes, int] = {}
        for row, key in enumerate(keys):
            if key not in known:
                first.setdefault(key, row)
        return list(first.values())

    def _memoised(
        self, ids: torch.Tensor, mask: torch.Tensor, cache: dict[bytes, torch.Tensor], encode: Callable[[torch.Tensor, torch.Tensor], Rows]
    ) -> Rows:
        """``encode`` per row, through ``cache``: each distinct text is encoded once, on its first use."""
        keys = self._keys(ids, mask)
        rows = self._first_rows(keys, cache)
        if rows:
            for row, value in zip(rows, encode(ids[rows], mask[rows]), strict=True):
                cache[keys[row]] = value.detach()
        return [cache[key] for key in keys]

    # -- encoding ----------------------------------------------------------------------

    @torch.no_grad()
    def _encode_frozen(self, ids: torch.Tensor, mask: torch.Tensor, side: Side) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What ``side`` reads of a batch from the frozen encoder, and the mask of its real tokens when it reads tokens."""
        self._hook_every_layer()
        with first_layers(self.encoder, self.depth(side)):
            output = self.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden_states = output.hidden_states or (output.last_hidden_state,)  # run to depth 0, the encoder records no layer
        states = self.read_states(hidden_states, mask, side)
        return states, (mask.bool() if states.dim() == 3 else None)

    def _frozen_batch(self, ids: torch.Tensor, mask: torch.Tensor, side: Side, memo: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What ``side`` reads of each row from the frozen encoder; with ``memo``, each distinct text is encoded once
        ever (once across runs, through the vector store when there is one)."""
        if not memo:
            return self._encode_frozen(ids, mask, side)
        if self.vector_store is not None:

            def encode(rows: list[int]) -> torch.Tensor:
                return self._encode_frozen(ids[rows], mask[rows], side)[0]

            return torch.stack(self.vector_store.vectors(self._keys(ids, mask), encode)).to(ids.device), None
        rows = self._memoised(ids, mask, self._frozen[side], lambda new_ids, new_mask: rows_of(*self._encode_frozen(new_ids, new_mask, side)))
        return batch_of(rows)

    def request_batch(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The request side of every row (and its token mask), each distinct request computed once; frozen readings memoised in training."""
        keys = self._keys(ids, mask)
        first_rows = self._first_rows(keys, {})
        position = {keys[row]: index for index, row in enumerate(first_rows)}
        where = torch.tensor([position[key] for key in keys], device=ids.device)
        states, states_mask = self._frozen_batch(ids[first_rows], mask[first_rows], "request", memo=self.training or self._bulk)
        side = self.request_side(states, states_mask)
        return side[where], None if states_mask is None else states_mask[where]

    def candidate_batch(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The candidate side of every row (and its token mask); in eval mode each distinct candidate is computed once, then cached."""
        if self.training:
            states, states_mask = self._frozen_batch(ids, mask, "candidate", memo=True)
            return self.candidate_side(states, states_mask), states_mask

        def encode(new_ids: torch.Tensor, new_mask: torch.Tensor) -> Rows:
            states, states_mask = self._frozen_batch(new_ids, new_mask, "candidate", memo=self._bulk)
            return rows_of(self.candidate_side(states, states_mask), states_mask)

        return batch_of(self._memoised(ids, mask, self._candidates, encode))

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
        self,
        request_ids: torch.Tensor,
        request_mask: torch.Tensor,
        candidate_ids: torch.Tensor,
        candidate_mask: torch.Tensor,
        pair_features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        request, candidate = self.request_batch(request_ids, request_mask), self.candidate_batch(candidate_ids, candidate_mask)
        return self.score_pairs(*request, *candidate, features=pair_features)

    def forward(
        self,
        request_ids: torch.Tensor,
        request_mask: torch.Tensor,
        candidate_ids: torch.Tensor,
        candidate_mask: torch.Tensor,
        pair_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.forward_with_hidden(request_ids, request_mask, candidate_ids, candidate_mask, pair_features)[0]

    def for_export(self) -> torch.nn.Module:
        """The same scores, straight through: nothing cached or memoised, tensors in and logits out, so torch.export can trace it."""
        return StraightThrough(self).eval()

    def save_pretrained(self, directory: Path) -> None:
        """The encoder and tokenizer as a transformers folder, the trained part and its settings beside them."""
        directory = Path(directory)
        self.encoder.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        trained = {k: v.detach().contiguous() for k, v in self.state_dict().items() if not k.startswith("encoder.")}
        save_file(trained, str(directory / self.weights_file))
        meta = {"max_length": self.max_length, "num_labels": self.num_labels, **self.settings()}
        (directory / self.config_file).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


class StraightThrough(torch.nn.Module):
    """A frozen-encoder ranker computed row by row in one pass: both sides of every row encoded, nothing kept between calls.

    Serving from ONNX has no candidate cache (its runtime keeps no state), so
    this is the model it runs; it scores as the cached model does, up to float
    rounding from padding.
    """

    def __init__(self, ranker: FrozenEncoderRanker) -> None:
        super().__init__()
        self.ranker = ranker

    def forward(
        self,
        request_ids: torch.Tensor,
        request_mask: torch.Tensor,
        candidate_ids: torch.Tensor,
        candidate_mask: torch.Tensor,
        pair_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        ranker = self.ranker
        request, request_tokens = ranker._encode_frozen(request_ids, request_mask, "request")
        candidate, candidate_tokens = ranker._encode_frozen(candidate_ids, candidate_mask, "candidate")
        request, candidate = ranker.request_side(request, request_tokens), ranker.candidate_side(candidate, candidate_tokens)
        return ranker.score_pairs(request, request_tokens, candidate, candidate_tokens, features=pair_features)[0]


def load_frozen_encoder_folder(directory: Path, kind: type[SelfType]) -> SelfType:
    """Load a ranker of class ``kind`` written by its :meth:`~FrozenEncoderRanker.save_pretrained`."""
    directory = Path(directory)
    meta = json.loads((directory / kind.config_file).read_text(encoding="utf-8"))
    encoder = AutoModel.from_pretrained(directory, local_files_only=True, add_pooling_layer=False)
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = kind(encoder, tokenizer, **meta)
    model.load_state_dict(load_file(str(directory / kind.weights_file)), strict=False)
    return model.eval()
