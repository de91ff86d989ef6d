"""Scoring pairs with a ranker: Lightning predict for bulk labeling, a timed loop for throughput."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from stillroom.data import Pair
from stillroom.ranker import Ranker
from stillroom.training import PairCollator, PairDataset, TrainItem


class _PredictModule(pl.LightningModule):
    def __init__(self, ranker: Ranker) -> None:
        super().__init__()
        self.ranker = ranker

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        return torch.softmax(self.ranker(**batch["features"]).float(), dim=-1)


def predict_probs(
    ranker: Ranker, pairs: Sequence[Pair], num_labels: int, trainer_config: Mapping[str, Any], batch_size: int
) -> torch.Tensor:
    """Probabilities over the label scale for every pair, in order (``[n, num_labels]``)."""
    if not pairs:
        return torch.empty(0, num_labels)
    items = [TrainItem(p.request_text, p.candidate_text) for p in pairs]
    loader = DataLoader(PairDataset(items), batch_size=batch_size, collate_fn=PairCollator(ranker, num_labels))
    trainer = pl.Trainer(
        accelerator=trainer_config["accelerator"],
        devices=1,
        precision=trainer_config["precision"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=bool(trainer_config["progress_bar"]),
        enable_model_summary=False,
    )
    batches = trainer.predict(_PredictModule(ranker).eval(), dataloaders=loader)
    return torch.cat([b.cpu() for b in batches])


@torch.inference_mode()
def measure_throughput(ranker: Ranker, batches: Sequence[dict[str, torch.Tensor]], repeats: int) -> float:
    """Pairs per second of the forward pass over pre-tokenized ``batches`` (best of ``repeats``).

    Tokenization is left out so that models sharing a tokenizer are compared on
    the model alone; one warm-up pass runs first.
    """
    ranker.eval()
    ranker(**batches[0])
    n_pairs = sum(int(next(iter(b.values())).shape[0]) for b in batches)
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        for features in batches:
            ranker(**features)
        best = min(best, time.perf_counter() - start)
    return n_pairs / best
