"""Training any ranker with Lightning: the loop behind ``finetune`` and ``distill``.

One LightningModule serves both stages: it sums the configured weighted loss
terms over the student's logits. What differs between stages is only the data
(golden labels, teacher soft labels, or both) and the terms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.loggers import Logger
from torch.utils.data import DataLoader, Dataset, Sampler

from stillroom.losses import HIDDEN, LISTS, NO_LABEL, WeightedTerm, hard_label_loss
from stillroom.ranker import Ranker

VAL_METRIC = "val/ce"
"""Cross-entropy against golden dev labels: the yardstick every training stage is validated on."""


@dataclass(frozen=True)
class TrainItem:
    """A pair as training sees it: its texts, its request, its golden label (or -1) and its teachers' targets."""

    request_text: str
    candidate_text: str
    label: int = NO_LABEL
    targets: Mapping[str, torch.Tensor] = field(default_factory=dict)
    """Per teacher objective (``"relevance"``, ``"engagement"``): its probabilities over its label scale."""
    hidden: Mapping[str, torch.Tensor] = field(default_factory=dict)
    """Per teacher objective, where the labeler recorded it: its pooled representation of the pair."""
    request_id: str = ""
    """Pairs of one request share it; ranking terms compare them."""


@dataclass(frozen=True)
class TargetShapes:
    """The teachers present in a training set: each one's label scale and, where recorded, hidden width."""

    scales: Mapping[str, int]
    hidden_widths: Mapping[str, int]

    @classmethod
    def of(cls, items: Sequence[TrainItem]) -> TargetShapes:
        scales: dict[str, int] = {}
        widths: dict[str, int] = {}
        for item in items:
            scales.update({name: int(probs.shape[-1]) for name, probs in item.targets.items() if name not in scales})
            widths.update({name: int(h.shape[-1]) for name, h in item.hidden.items() if name not in widths})
        return cls(scales, widths)


class PairDataset(Dataset):
    def __init__(self, items: Sequence[TrainItem]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> TrainItem:
        return self.items[index]


class RequestBatchSampler(Sampler[list[int]]):
    """Batches of whole requests: a request's candidates stay together, so ranking terms can compare them.

    Requests are shuffled each epoch and packed into batches of at most
    ``batch_size`` pairs (a request with more candidates than that fills a
    batch of its own).
    """

    def __init__(self, request_ids: Sequence[str], batch_size: int, generator: torch.Generator) -> None:
        self.by_request: dict[str, list[int]] = {}
        for index, request in enumerate(request_ids):
            self.by_request.setdefault(request, []).append(index)
        self.requests = list(self.by_request)
        self.batch_size = batch_size
        self.generator = generator

    def _batches(self, order: Sequence[int]) -> list[list[int]]:
        batches: list[list[int]] = [[]]
        for position in order:
            rows = self.by_request[self.requests[position]]
            if batches[-1] and len(batches[-1]) + len(rows) > self.batch_size:
                batches.append([])
            batches[-1].extend(rows)
        return [batch for batch in batches if batch]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches(torch.randperm(len(self.requests), generator=self.generator).tolist())

    def __len__(self) -> int:
        return len(self._batches(range(len(self.requests))))


class PairCollator:
    """Tokenizes a batch with the ranker's own tokenizer and stacks its targets (see :mod:`stillroom.losses`)."""

    def __init__(self, ranker: Ranker, shapes: TargetShapes | None = None) -> None:
        self.ranker = ranker
        self.shapes = shapes or TargetShapes({}, {})

    def _teacher(self, items: Sequence[TrainItem], name: str) -> dict[str, torch.Tensor]:
        probs = torch.zeros(len(items), self.shapes.scales[name])
        mask = torch.zeros(len(items), dtype=torch.bool)
        width = self.shapes.hidden_widths.get(name)
        hidden = torch.zeros(len(items), width) if width else None
        for row, item in enumerate(items):
            if name in item.targets:
                probs[row] = item.targets[name]
                mask[row] = True
            if hidden is not None and name in item.hidden:
                hidden[row] = item.hidden[name]
        return {"probs": probs, "mask": mask, **({"hidden": hidden} if hidden is not None else {})}

    def __call__(self, items: Sequence[TrainItem]) -> dict[str, Any]:
        features = self.ranker.tokenize([i.request_text for i in items], [i.candidate_text for i in items])
        requests = {request: index for index, request in enumerate(dict.fromkeys(i.request_id for i in items))}
        return {
            "features": features,
            "labels": torch.tensor([i.label for i in items], dtype=torch.long),
            "group": torch.tensor([requests[i.request_id] for i in items], dtype=torch.long),
            "teachers": {name: self._teacher(items, name) for name in self.shapes.scales},
        }


def warmup_cosine(total_steps: int, warmup_ratio: float) -> Callable[[int], float]:
    """The learning-rate factor per step: linear warm-up over ``warmup_ratio`` of the steps, then cosine decay to 0."""
    warmup = max(1, int(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup))))

    return factor


class RankerModule(pl.LightningModule):
    """Trains a ranker on a weighted sum of loss terms.

    Terms with parameters of their own (a hidden-state projection) train along
    with the ranker; only the ranker is saved.
    """

    def __init__(self, ranker: Ranker, terms: Sequence[WeightedTerm], lr: float, weight_decay: float, warmup_ratio: float) -> None:
        super().__init__()
        self.ranker = ranker
        self.terms = list(terms)
        self.term_modules = torch.nn.ModuleList([t.term for t in self.terms if isinstance(t.term, torch.nn.Module)])
        self.needs_hidden = any(HIDDEN in t.needs for t in self.terms)
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        if self.needs_hidden:
            logits, hidden = self.ranker.forward_with_hidden(**batch["features"])
            batch = {**batch, "student_hidden": hidden}
        else:
            logits = self.ranker(**batch["features"])
        total = logits.new_zeros(())
        for term in self.terms:
            value = term.term(logits, batch)
            self.log(f"train/{term.name}", value, batch_size=logits.shape[0])
            total = total + term.weight * value
        self.log("train/loss", total, prog_bar=True, batch_size=logits.shape[0])
        return total

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        logits = self.ranker(**batch["features"])
        self.log(VAL_METRIC, hard_label_loss(logits, batch["labels"]), prog_bar=True, batch_size=logits.shape[0])

    def configure_optimizers(self) -> dict[str, Any]:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, self.warmup_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class HistoryRecorder(pl.Callback):
    """Keeps the logged curves in memory so the stage can save them for the report's plots."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def _record(self, trainer: pl.Trainer, prefix: str) -> None:
        row = {"step": float(trainer.global_step), "epoch": float(trainer.current_epoch)}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(prefix)})
        self.rows.append(row)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step % max(1, trainer.log_every_n_steps) == 0:
            self._record(trainer, "train/")

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._record(trainer, "val/")


class KeepBestWeights(pl.Callback):
    """Early stopping's other half: restore the weights of the best validation epoch when training ends."""

    def __init__(self, monitor: str = VAL_METRIC) -> None:
        self.monitor = monitor
        self.best = float("inf")
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and not trainer.sanity_checking and float(value) < self.best:
            self.best = float(value)
            self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.state is not None:
            pl_module.load_state_dict(self.state)


def fit(
    ranker: Ranker,
    terms: Sequence[WeightedTerm],
    train_items: Sequence[TrainItem],
    val_items: Sequence[TrainItem],
    train_config: Mapping[str, Any],
    trainer_config: Mapping[str, Any],
    loggers: list[Logger],
    seed: int,
    callbacks: Sequence[pl.Callback] = (),
) -> list[dict[str, float]]:
    """Train ``ranker`` in place; return the recorded curves.

    With ``early_stopping_patience`` in ``train_config``, training stops once the
    dev cross-entropy has not improved for that many epochs, and the weights of
    the best epoch are kept. When a term ranks a request's candidates, batches
    hold whole requests (:class:`RequestBatchSampler`). ``callbacks`` join
    Lightning's (a benchmark's clock, say).
    """
    pl.seed_everything(seed, workers=True, verbose=False)
    collate = PairCollator(ranker, TargetShapes.of(train_items))
    generator = torch.Generator().manual_seed(seed)
    batch_size = int(train_config["batch_size"])
    if any(LISTS in t.needs for t in terms):
        sampler = RequestBatchSampler([i.request_id for i in train_items], batch_size, generator)
        train_loader = DataLoader(PairDataset(train_items), batch_sampler=sampler, collate_fn=collate)
    else:
        train_loader = DataLoader(PairDataset(train_items), batch_size=batch_size, shuffle=True, collate_fn=collate, generator=generator)
    val_loader = DataLoader(PairDataset(val_items), batch_size=int(train_config.get("eval_batch_size", 64)), collate_fn=collate)
    module = RankerModule(
        ranker,
        terms,
        lr=float(train_config["lr"]),
        weight_decay=float(train_config.get("weight_decay", 0.0)),
        warmup_ratio=float(train_config.get("warmup_ratio", 0.1)),
    )
    history = HistoryRecorder()
    every_callback: list[pl.Callback] = [history, *callbacks]
    patience = train_config.get("early_stopping_patience")
    if patience is not None and val_items:
        every_callback += [EarlyStopping(monitor=VAL_METRIC, mode="min", patience=int(patience)), KeepBestWeights()]
    ranker.train()  # pretrained models load in eval mode; Lightning keeps whatever mode it is given
    trainer = pl.Trainer(
        accelerator=trainer_config["accelerator"],
        devices=trainer_config["devices"],
        strategy=trainer_config["strategy"],
        precision=trainer_config["precision"],
        max_epochs=int(train_config["epochs"]),
        logger=loggers or False,
        callbacks=every_callback,
        enable_checkpointing=False,
        enable_progress_bar=bool(trainer_config["progress_bar"]),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=int(trainer_config["log_every_n_steps"]),
        deterministic=bool(trainer_config["deterministic"]),
    )
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader if val_items else None)
    ranker.eval()
    return history.rows
