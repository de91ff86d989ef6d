"""Training any ranker with Lightning: the loop behind ``finetune`` and ``distill``.

One LightningModule serves both stages: it sums the configured weighted loss
terms over the student's logits. What differs between stages is only the data
(golden labels, teacher soft labels, or both) and the terms.
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, Dataset
from torchmetrics.retrieval import RetrievalNormalizedDCG

from stillroom.errors import RunInterrupted, StillroomError
from stillroom.evaluation.significance import IntervalSettings
from stillroom.features import model_inputs
from stillroom.losses import GOLDEN, HIDDEN, LISTS, NO_LABEL, WeightedTerm, hard_label_loss
from stillroom.ranker import Ranker, bulk_scoring, expected_grade
from stillroom.training.checkpoints import AtomicCheckpointIO, ResumableTraining
from stillroom.training.distributed import as_one_process
from stillroom.training.progress import progress_callbacks
from stillroom.training.sampling import EpochBatchSampler, ReplayableRandomness, RequestBatchSampler
from stillroom.training.selection import DevRequests, KeepBestWeights, leave_start_when
from stillroom.training.strategies import is_distributed

VAL_METRIC = "val/ce"
"""Cross-entropy against golden dev labels: the yardstick every training stage is validated on."""
VAL_NDCG = "val/ndcg"
"""NDCG@k over each golden dev request, ranked by the expected label: what a ranker is chosen for, and what the
policy gate and the report judge it on (``k`` is the evaluator's; a whole-list NDCG can rise while NDCG@10 falls)."""
SELECTION = {"ce": (VAL_METRIC, "min"), "ndcg": (VAL_NDCG, "max")}
"""``train.select_by`` -> the dev figure early stopping and the best epoch read, and which way is better."""


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
    features: Mapping[str, float] = field(default_factory=dict)
    """The pair's features as :func:`stillroom.features.pair_features` computes them; a model reads those it names."""


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


class PairCollator:
    """Tokenizes a batch with the ranker's own tokenizer and stacks its targets (see :mod:`stillroom.losses`)."""

    def __init__(self, ranker: Ranker, shapes: TargetShapes | None = None) -> None:
        self.ranker = ranker
        self.shapes = shapes or TargetShapes({}, {})
        self._requests: dict[str, int] = {}

    def _request_number(self, request_id: str) -> int:
        """A number per request, the same in every batch: a request's pairs may span batches (validation's NDCG)."""
        return self._requests.setdefault(request_id, len(self._requests))

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

    def _golden(self, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The golden labels as a teacher's targets (:data:`~stillroom.losses.GOLDEN`): one-hot where a pair has one."""
        labeled = labels != NO_LABEL
        return {"probs": torch.nn.functional.one_hot(labels.clamp_min(0), self.ranker.num_labels).float(), "mask": labeled}

    def __call__(self, items: Sequence[TrainItem]) -> dict[str, Any]:
        features = model_inputs(self.ranker, [i.request_text for i in items], [i.candidate_text for i in items], [i.features for i in items])
        requests = {request: index for index, request in enumerate(dict.fromkeys(i.request_id for i in items))}
        labels = torch.tensor([i.label for i in items], dtype=torch.long)
        return {
            "features": features,
            "labels": labels,
            "group": torch.tensor([requests[i.request_id] for i in items], dtype=torch.long),
            "request": torch.tensor([self._request_number(i.request_id) for i in items], dtype=torch.long),
            "teachers": {**{name: self._teacher(items, name) for name in self.shapes.scales}, GOLDEN: self._golden(labels)},
        }


def warmup_cosine(total_steps: int, warmup_ratio: float) -> Callable[[int], float]:
    """The learning-rate factor per step: linear warm-up over ``warmup_ratio`` of the steps, then cosine decay to 0."""
    warmup = max(1, int(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup))))

    return factor


class NumericFault(StillroomError):
    """A loss term went NaN or infinite: training stops there rather than save a broken model."""


class RankerModule(pl.LightningModule):
    """Trains a ranker on a weighted sum of loss terms.

    Terms with parameters of their own (a hidden-state projection) train along
    with the ranker; only the ranker is saved.
    """

    def __init__(
        self,
        ranker: Ranker,
        terms: Sequence[WeightedTerm],
        lr: float,
        weight_decay: float,
        warmup_ratio: float,
        stage: str = "train",
        ndcg_k: int | None = None,
        per_request_dev: bool = False,
    ) -> None:
        super().__init__()
        self.stage = stage
        self.ranker = ranker
        self.terms = list(terms)
        self.term_modules = torch.nn.ModuleList([t.term for t in self.terms if isinstance(t.term, torch.nn.Module)])
        self.needs_hidden = any(HIDDEN in t.needs for t in self.terms)
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.val_ndcg = RetrievalNormalizedDCG(top_k=ndcg_k)
        self.dev_requests = DevRequests(ndcg_k) if per_request_dev else None
        """Each dev request's scores, kept only where selection tests an epoch's gain request by request."""

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        if self.needs_hidden:
            logits, hidden = self.ranker.forward_with_hidden(**batch["features"])
            batch = {**batch, "student_hidden": hidden}
        else:
            logits = self.ranker(**batch["features"])
        total = logits.new_zeros(())
        values = {}
        for term in self.terms:
            values[term.name] = value = term(logits, batch)
            self.log(f"train/{term.name}", value, batch_size=logits.shape[0])
            total = total + term.weight * value
        if not torch.isfinite(total):  # one check per step; the terms are searched only when it fails
            name, value = next(((n, v) for n, v in values.items() if not torch.isfinite(v)), ("(weighted sum)", total))
            where = f"at step {self.global_step} (epoch {self.current_epoch})"
            raise NumericFault(f"loss term {name!r} is {float(value.detach())} {where}", self.stage)
        self.log("train/loss", total, prog_bar=True, batch_size=logits.shape[0])
        return total

    def on_validation_epoch_start(self) -> None:
        if self.dev_requests is not None:
            self.dev_requests.reset()

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        logits = self.ranker(**batch["features"])
        self.log(VAL_METRIC, hard_label_loss(logits, batch["labels"]), prog_bar=True, batch_size=logits.shape[0])
        scores = expected_grade(torch.softmax(logits.float(), dim=-1))
        self.val_ndcg.update(scores, batch["labels"], indexes=batch["request"])
        if self.dev_requests is not None:
            self.dev_requests.add(scores, batch["labels"], batch["request"])
        self.log(VAL_NDCG, self.val_ndcg, batch_size=logits.shape[0])

    def configure_optimizers(self) -> dict[str, Any]:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, self.warmup_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class HistoryRecorder(pl.Callback):
    """Keeps the logged curves in memory so the stage can save them for the report's plots.

    Under a strategy whose workers run apart from the main process
    (``ddp_fork``, ``ddp_spawn``), rank zero writes the curves to ``handoff``
    as training ends, and :meth:`recorded` reads them back in the main process.
    """

    def __init__(self, handoff: Path | None = None) -> None:
        self.rows: list[dict[str, float]] = []
        self.handoff = handoff

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

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.handoff is not None and trainer.world_size > 1 and trainer.is_global_zero:
            self.handoff.write_text(json.dumps(self.rows), encoding="utf-8")

    def recorded(self) -> list[dict[str, float]]:
        """The curves, from memory or, when rank zero trained in a worker process, from its handoff file."""
        if not self.rows and self.handoff is not None and self.handoff.is_file() and self.handoff.stat().st_size:
            return json.loads(self.handoff.read_text(encoding="utf-8"))
        return self.rows

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])


def selected_by(train_config: Mapping[str, Any], where: str = "train.select_by") -> tuple[str, str]:
    """The dev figure ``train.select_by`` names and which way is better; an unknown name is an error at ``where``."""
    select_by = str(train_config["select_by"])
    if select_by not in SELECTION:
        raise StillroomError(f"expected one of {', '.join(SELECTION)}, got {select_by!r}", where=where)
    return SELECTION[select_by]


def _selection(train_config: Mapping[str, Any], intervals: IntervalSettings, stage: str) -> list[pl.Callback]:
    """Early stopping and the best epoch's weights, on the dev figure ``train.select_by`` names; none without a patience.
    With ``train.leave_start_when: resolved``, an epoch replaces the start only with a resolved gain on ``intervals``."""
    patience = train_config["early_stopping_patience"]
    if patience is None:
        return []
    monitor, mode = selected_by(train_config)
    over_start = intervals if leave_start_when(train_config) == "resolved" else None
    early_stopping = EarlyStopping(monitor=monitor, mode=mode, patience=int(patience), check_on_train_epoch_end=False)
    return [early_stopping, KeepBestWeights(monitor, mode, over_start, stage)]


def _trainer(trainer_config: Mapping[str, Any], epochs: int, loggers: list[Logger], callbacks: list[pl.Callback], checkpointing: bool) -> pl.Trainer:
    progress, bar = progress_callbacks(trainer_config)
    return pl.Trainer(
        accelerator=trainer_config["accelerator"],
        devices=trainer_config["devices"],
        strategy=trainer_config["strategy"],
        precision=trainer_config["precision"],
        max_epochs=epochs,
        logger=loggers or False,
        callbacks=[*callbacks, *progress],
        enable_checkpointing=checkpointing,
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=int(trainer_config["log_every_n_steps"]),
        deterministic=bool(trainer_config["deterministic"]),
        use_distributed_sampler=False,  # the batch samplers shard themselves (stillroom.training.sampling); each process validates all of dev
    )


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
    checkpoints: Path | None = None,
    stage: str = "train",
    ndcg_k: int | None = None,
    intervals: IntervalSettings | None = None,
) -> list[dict[str, float]]:
    """Train ``ranker`` in place; return the recorded curves.

    With ``early_stopping_patience`` in ``train_config``, training stops once the
    dev figure ``train_config["select_by"]`` names (cross-entropy, or NDCG over
    each request's list) has not improved for that many epochs, and the weights
    of the best epoch are kept. When a term ranks a request's candidates, batches
    hold whole requests (:class:`RequestBatchSampler`). ``callbacks`` join
    Lightning's (a benchmark's clock, say).

    With a ``checkpoints`` folder, training saves a checkpoint there every epoch
    and on SIGTERM, and resumes from the one it finds (see
    :mod:`stillroom.training.checkpoints`). A NaN or infinite loss stops it with a
    :class:`NumericFault` that names ``stage``, the step and the term. ``ndcg_k``
    cuts the dev NDCG that ``select_by: ndcg`` reads at the run's k (None: whole lists); ``intervals`` are the
    paired test ``train.leave_start_when: resolved`` asks of an epoch (:mod:`stillroom.training.selection`).
    """
    pl.seed_everything(seed, workers=True, verbose=False)
    collate = PairCollator(ranker, TargetShapes.of(train_items))
    batch_size = int(train_config["batch_size"])
    sampler = (
        RequestBatchSampler([i.request_id for i in train_items], batch_size, seed)
        if any(LISTS in t.needs for t in terms)
        else EpochBatchSampler(len(train_items), batch_size, seed)
    )
    train_loader = DataLoader(PairDataset(train_items), batch_sampler=sampler, collate_fn=collate)
    val_loader = DataLoader(PairDataset(val_items), batch_size=int(train_config["eval_batch_size"]), collate_fn=collate)
    stopping = _selection(train_config, intervals or IntervalSettings(), stage) if val_items else []
    module = RankerModule(
        ranker,
        terms,
        lr=float(train_config["lr"]),
        weight_decay=float(train_config["weight_decay"]),
        warmup_ratio=float(train_config["warmup_ratio"]),
        stage=stage,
        ndcg_k=ndcg_k,
        per_request_dev=any(isinstance(c, KeepBestWeights) and c.over_start is not None for c in stopping),
    )
    resumable = ResumableTraining(checkpoints, sampler) if checkpoints is not None else None
    ranker.train()  # pretrained models load in eval mode; Lightning keeps whatever mode it is given
    with tempfile.TemporaryDirectory(prefix="stillroom-fit-") as scratch:
        history = HistoryRecorder(handoff=Path(scratch) / "history.json")
        every_callback = [history, ReplayableRandomness(sampler, seed), *callbacks, *stopping, *([resumable] if resumable else [])]
        trainer = _trainer(trainer_config, int(train_config["epochs"]), loggers, every_callback, checkpointing=resumable is not None)
        distributed = is_distributed(trainer_config)
        if distributed:
            for logger in loggers:  # started here, so that the workers log to the run this job owns: one run per job
                _ = logger.experiment
        resume_from = resumable.resume_from if resumable else None
        if resume_from:
            print(f"[stillroom] {stage}: resuming from {resume_from}")
        try:
            with warnings.catch_warnings():
                # The batch sampler skips what a mid-epoch checkpoint had trained on: the loader is resumable.
                warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
                # Validation is never timed: a ranker that keeps what it computed of a text reuses it there too.
                with as_one_process(distributed), nullcontext() if distributed else bulk_scoring(ranker):
                    if stopping and not resume_from and not distributed:  # the weights before training compete for best
                        trainer.validate(module, val_loader, verbose=False)
                    trainer.fit(module, train_loader, val_loader if val_items else None, ckpt_path=resume_from, weights_only=True)
        except SIGTERMException:
            saved = f"; its checkpoint is {resumable.path}" if resumable else ""
            at_step = f" at step {trainer.global_step}" if trainer.global_step else ""  # a worker's step does not come back
            raise RunInterrupted(f"{stage}: stopped by SIGTERM{at_step}{saved}. Rerun the same command to resume") from None
        except NumericFault as fault:
            kept = f"; the last good checkpoint stays: {resumable.path}" if resumable and resumable.resume_from else ""
            raise NumericFault(f"{fault.message}{kept}. Lower the learning rate or check the data, then rerun", fault.where) from None
        rows = history.recorded()
    ranker.eval()
    return rows
