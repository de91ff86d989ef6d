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
    """Probabilities over the label scale for every pair, in order (``[n, num_labels]``).

    Pairs are batched by text length, so that a batch pads to little more than
    its own longest pair, and the results are put back in the input order.
    """
    if not pairs:
        return torch.empty(0, num_labels)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].request_text) + len(pairs[i].candidate_text))
    items = [TrainItem(pairs[i].request_text, pairs[i].candidate_text) for i in order]
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
    probs = torch.empty(len(pairs), num_labels)
    probs[torch.tensor(order)] = torch.cat([b.float().cpu() for b in batches])
    return probs


def scoring_device(trainer_config: Mapping[str, Any]) -> torch.device:
    """The device the trainer config runs on, for timing models where they would serve."""
    wants_gpu = str(trainer_config["accelerator"]) in {"gpu", "cuda", "auto"}
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


@torch.inference_mode()
def measure_throughput(
    ranker: Ranker, batches: Sequence[dict[str, torch.Tensor]], repeats: int, trainer_config: Mapping[str, Any]
) -> float:
    """Pairs per second of the forward pass over pre-tokenized ``batches`` (best of ``repeats``).

    Tokenization is left out so that models sharing a tokenizer are compared on
    the model alone; one warm-up pass runs first. The model runs on the
    trainer's device, in bf16 when the trainer's precision is bf16.
    """
    device = scoring_device(trainer_config)
    bf16 = str(trainer_config["precision"]).startswith("bf16")
    ranker.eval().to(device)
    batches = [{k: v.to(device) for k, v in features.items()} for features in batches]
    n_pairs = sum(int(next(iter(b.values())).shape[0]) for b in batches)
    best = float("inf")
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for features in batches[:1]:
            ranker(**features)
        for _ in range(max(1, repeats)):
            _synchronize(device)
            start = time.perf_counter()
            for features in batches:
                ranker(**features)
            _synchronize(device)
            best = min(best, time.perf_counter() - start)
    ranker.to("cpu")
    return n_pairs / best


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
