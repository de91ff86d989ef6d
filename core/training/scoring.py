"""Scoring pairs with a ranker: Lightning predict for bulk labeling (on one process or several), a timed loop for throughput."""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Sampler

from stillroom.data import Pair
from stillroom.features import pair_features
from stillroom.ranker import HasHidden, Ranker, bulk_scoring, caches_candidates
from stillroom.training import PairCollator, PairDataset, TrainItem
from stillroom.training.distributed import as_one_process, process_rank
from stillroom.training.progress import progress_callbacks
from stillroom.training.strategies import is_distributed

ROWS = "rows"
"""In a worker's shard of predictions: the rows (positions in the scored list) its outputs belong to."""


class _PredictModule(pl.LightningModule):
    def __init__(self, ranker: Ranker, with_hidden: bool) -> None:
        super().__init__()
        self.ranker = ranker
        self.with_hidden = with_hidden
        self.allow_zero_length_dataloader_with_multiple_devices = True  # fewer batches than processes: some score none

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        if self.with_hidden:
            logits, hidden = self.ranker.forward_with_hidden(**batch["features"])
            return {"probs": torch.softmax(logits.float(), dim=-1), "hidden": hidden.float()}
        return {"probs": torch.softmax(self.ranker(**batch["features"]).float(), dim=-1)}


def has_hidden(ranker: Ranker) -> bool:
    """Whether the ranker can return its pooled representation of a pair (:class:`~stillroom.ranker.HasHidden`)."""
    return isinstance(ranker, HasHidden)


def predict(
    ranker: Ranker,
    pairs: Sequence[Pair],
    num_labels: int,
    trainer_config: Mapping[str, Any],
    batch_size: int,
    with_hidden: bool = False,
    distributed: bool = False,
) -> dict[str, torch.Tensor]:
    """Probabilities over the label scale for every pair, in order (``probs``: ``[n, num_labels]``),
    and with ``with_hidden`` the ranker's pooled representation of each (``hidden``).

    Pairs are batched by text length, so that a batch pads to little more than
    its own longest pair, and the results are put back in the input order.
    With ``distributed`` and a trainer config of several processes, the
    batches are shared out among them (:func:`predict_in_workers`): labeling
    at scale. Every batch is the one a single process would score, so the
    results are the same. Small sets (dev, test) are scored here: starting the
    workers would cost more than it saves.
    """
    if not pairs:
        return {"probs": torch.empty(0, num_labels)}
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].request_text) + len(pairs[i].candidate_text))
    features = pair_features(pairs)
    items = [TrainItem(pairs[i].request_text, pairs[i].candidate_text, request_id=pairs[i].request_id, features=features[i]) for i in order]
    module = _PredictModule(ranker, with_hidden).eval()
    if distributed and is_distributed(trainer_config):
        outputs = predict_in_workers(module, items, batch_size, trainer_config)
    else:
        loader = DataLoader(PairDataset(items), batch_size=batch_size, collate_fn=PairCollator(ranker))
        with bulk_scoring(ranker):
            batches = _predict_trainer(trainer_config, devices=1).predict(module, dataloaders=loader)
        outputs = {key: torch.cat([b[key].float().cpu() for b in batches]) for key in batches[0]}
    where = torch.empty(len(pairs), dtype=torch.long)
    where[torch.tensor(order)] = torch.arange(len(pairs))
    return {key: value[where] for key, value in outputs.items()}


def _predict_trainer(trainer_config: Mapping[str, Any], devices: Any, callbacks: Sequence[pl.Callback] = (), **distributed: Any) -> pl.Trainer:
    progress, bar = progress_callbacks(trainer_config)
    return pl.Trainer(
        accelerator=trainer_config["accelerator"],
        devices=devices,
        precision=trainer_config["precision"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=bar,
        enable_model_summary=False,
        callbacks=[*callbacks, *progress],
        **distributed,
    )


def predict_in_workers(
    module: pl.LightningModule, items: Sequence[TrainItem], batch_size: int, trainer_config: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """Lightning predict under the trainer's strategy: each process scores every n-th batch and writes its shard; merged here by row."""
    batches = [list(range(start, min(start + batch_size, len(items)))) for start in range(0, len(items), batch_size)]
    loader = DataLoader(PairDataset(items), batch_sampler=ShardedBatches(batches), collate_fn=PairCollator(module.ranker))
    with tempfile.TemporaryDirectory(prefix="stillroom-predict-") as folder:
        trainer = _predict_trainer(
            trainer_config,
            trainer_config["devices"],
            strategy=trainer_config["strategy"],
            use_distributed_sampler=False,
            callbacks=[ShardWriter(Path(folder))],
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*custom batch sampler.*")  # it shards itself: ShardedBatches
            with as_one_process():
                trainer.predict(module, dataloaders=loader, return_predictions=False)
        return merge_shards(Path(folder), len(items))


class ShardedBatches(Sampler[list[int]]):
    """Fixed batches, each process taking every n-th one (n processes), read from the process group as a worker iterates."""

    def __init__(self, batches: Sequence[list[int]]) -> None:
        self.batches = list(batches)

    def _mine(self) -> list[list[int]]:
        rank, processes = process_rank()
        return self.batches[rank::processes]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._mine()

    def __len__(self) -> int:
        return len(self._mine())


class ShardWriter(BasePredictionWriter):
    """Each process writes each batch's outputs, with the rows they belong to, to files of its own (one per batch)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(write_interval="batch")
        self.folder = folder

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Mapping[str, torch.Tensor],
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        tensors = {key: value.float().cpu().contiguous() for key, value in prediction.items()}
        tensors[ROWS] = torch.tensor(list(batch_indices or []), dtype=torch.long)
        save_file(tensors, str(self.folder / f"rank{trainer.global_rank:03d}-batch{batch_idx:06d}.safetensors"))


def merge_shards(folder: Path, size: int) -> dict[str, torch.Tensor]:
    """Every shard's outputs put in their rows, the files read in name order; every row must be there exactly once."""
    merged: dict[str, torch.Tensor] = {}
    seen = torch.zeros(size, dtype=torch.long)
    for path in sorted(folder.glob("*.safetensors")):
        shard = load_file(str(path))
        rows = shard.pop(ROWS)
        seen[rows] += 1
        for key, value in shard.items():
            merged.setdefault(key, torch.empty(size, *value.shape[1:]))[rows] = value
    if not bool((seen == 1).all()):
        raise RuntimeError(f"the workers' shards cover {int((seen > 0).sum())} of {size} rows, {int((seen > 1).sum())} twice")
    return merged


def predict_probs(ranker: Ranker, pairs: Sequence[Pair], num_labels: int, trainer_config: Mapping[str, Any], batch_size: int) -> torch.Tensor:
    """Probabilities over the label scale for every pair, in order (``[n, num_labels]``); see :func:`predict`."""
    return predict(ranker, pairs, num_labels, trainer_config, batch_size)["probs"]


def scoring_device(trainer_config: Mapping[str, Any]) -> torch.device:
    """The device the trainer config runs on, for timing models where they would serve."""
    wants_gpu = str(trainer_config["accelerator"]) in {"gpu", "cuda", "auto"}
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class Timed:
    """A model and the pre-tokenized batches its throughput is measured on."""

    ranker: Ranker
    batches: Sequence[dict[str, torch.Tensor]]

    @property
    def pairs(self) -> int:
        return sum(int(next(iter(b.values())).shape[0]) for b in self.batches)


@torch.inference_mode()
def measure_throughputs(models: Mapping[str, Timed], rounds: int, trainer_config: Mapping[str, Any], slice_seconds: float = 0.0) -> dict[str, float]:
    """Pairs per second of each model's forward pass: the best of its timed passes, measured in interleaved rounds.

    Every round gives each model in turn at least one pass over its batches, and
    more until it has spent ``slice_seconds`` (as timeit's autorange does): a
    small model's pass lasts a fraction of a second, and a few such passes swing
    with whatever else the machine is doing. Interleaving means a busy moment
    slows every model alike, so the ratio between them (the report's speedup)
    holds even when the absolute figures move. Tokenization is left out so that
    models sharing a tokenizer are compared on the model alone; each model
    warms up first (see :func:`warm_up_batches`). Models run on the trainer's
    device, in bf16 when the trainer's precision is bf16.
    """
    device = scoring_device(trainer_config)
    bf16 = str(trainer_config["precision"]).startswith("bf16")
    best = dict.fromkeys(models, float("inf"))
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for _ in range(max(1, rounds)):
            for name, timed in models.items():
                timed.ranker.eval().to(device)
                batches = [{k: v.to(device) for k, v in features.items()} for features in timed.batches]
                for features in warm_up_batches(timed.ranker, batches):
                    timed.ranker(**features)
                spent = 0.0
                while spent == 0.0 or spent < slice_seconds:
                    _synchronize(device)
                    start = time.perf_counter()
                    for features in batches:
                        timed.ranker(**features)
                    _synchronize(device)
                    elapsed = time.perf_counter() - start
                    best[name], spent = min(best[name], elapsed), spent + elapsed
                timed.ranker.to("cpu")
    return {name: models[name].pairs / best[name] for name in models}


def warm_up_batches(ranker: Ranker, batches: Sequence[dict[str, torch.Tensor]]) -> Sequence[dict[str, torch.Tensor]]:
    """What a model runs, untimed, before its passes are timed: one batch, or all of them for a ranker that caches candidates.

    A caching ranker is timed as it serves under steady traffic, every candidate
    already cached; filling the cache on a timed pass would time the encoder it
    saves. Moving a model to a device drops its cache, so this runs every round.
    """
    return batches if caches_candidates(ranker) else batches[:1]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
