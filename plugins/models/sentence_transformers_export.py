"""The exported bi-encoder student as a sentence-transformers model too: the same folder loads in both.

A team that serves embeddings from a vector index reaches for ``SentenceTransformer(folder)``. The student is
the served base encoder, mean-pooled, with a residual adapter per side, read by cosine, so it maps onto
sentence-transformers' own pipeline: ``Transformer`` -> ``Pooling`` (mean) -> ``Router`` (the request's adapter
for ``encode_query``, the candidate's for ``encode_document``) -> ``Normalize``; ``model.similarity`` is the
cosine the student scores by. The adapter is :class:`Adapter` below, which sentence-transformers imports from
this module (stillroom installed): the folder holds no code, but sentence-transformers 6 imports a module class
not its own only with ``trust_remote_code=True``.

The score ``stillroom score`` gives is that cosine through the student's ordinal head, written out in
``stillroom_score.json`` so that no stillroom code is needed to compute it: with ``x = cosine + sum(w_f * f)``
over the features the student reads (``features``, each normalised within its request as in serving),
``score = mean_k sigmoid(scale * (x - cut_k))``, the expected grade over the top label.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from sentence_transformers.sentence_transformer.modules import Module

from stillroom.plugins.models.residual import ResidualAdapter

if TYPE_CHECKING:
    from stillroom.plugins.models.bi_encoder import AdaptedBiEncoder

SCORE_FILE = "stillroom_score.json"
QUERY, DOCUMENT = "query", "document"


class Adapter(Module):
    """A side's residual adapter (``x + mlp(layer_norm(x))``) on the pooled embedding, as a sentence-transformers module."""

    config_keys = ["width", "hidden"]

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.width, self.hidden = width, hidden
        self.adapter = ResidualAdapter(width, hidden)

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        features["sentence_embedding"] = self.adapter(features["sentence_embedding"])
        return features

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> Adapter:
        hub = {key: kwargs[key] for key in ("token", "cache_folder", "revision", "local_files_only") if key in kwargs}
        config = cls.load_config(model_name_or_path=model_name_or_path, subfolder=subfolder, **hub)
        module = cls(**{key: config[key] for key in cls.config_keys})
        return cls.load_torch_weights(model_name_or_path=model_name_or_path, subfolder=subfolder, model=module, **hub)


def _adapter(trained: ResidualAdapter) -> Adapter:
    module = Adapter(trained.up.in_features, trained.up.out_features)
    module.adapter.load_state_dict(trained.state_dict())
    return module


def write_sentence_transformers(ranker: AdaptedBiEncoder, directory: Path) -> None:
    """Make ``directory`` (the student's transformers folder, already written) a sentence-transformers folder too."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Router, Transformer

    local = {"local_files_only": True}
    transformer = Transformer(str(directory), max_seq_length=ranker.max_length, model_kwargs=local, processor_kwargs=local, config_kwargs=local)
    router = Router({QUERY: [_adapter(ranker.request_adapter)], DOCUMENT: [_adapter(ranker.candidate_adapter)]}, default_route=DOCUMENT)
    width = ranker.encoder.config.hidden_size
    model = SentenceTransformer(modules=[transformer, Pooling(width, pooling_mode="mean"), router, Normalize()], similarity_fn_name="cosine")
    model.save(str(directory))
    head = ranker.head
    weights = ranker.feature_weights.weight.detach().reshape(-1).tolist() if ranker.feature_weights is not None else []
    score = {
        "scale": float(head.log_scale.detach().exp()),
        "cuts": [float(cut) for cut in head.cuts().detach()],
        "features": dict(zip(ranker.pair_features, weights, strict=True)),
        "formula": "x = cosine + sum(w_f * feature_f); score = mean_k sigmoid(scale * (x - cut_k))",
    }
    (directory / SCORE_FILE).write_text(json.dumps(score, indent=2) + "\n", encoding="utf-8")


def score_from_cosine(cosine: torch.Tensor, folder: Path, features: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """The student's score from sentence-transformers' cosine, by ``stillroom_score.json`` alone (what the docs show)."""
    spec = json.loads((Path(folder) / SCORE_FILE).read_text(encoding="utf-8"))
    x = cosine + sum(weight * (features or {})[name] for name, weight in spec["features"].items())
    return torch.sigmoid(spec["scale"] * (x.unsqueeze(-1) - torch.tensor(spec["cuts"]))).mean(-1)
