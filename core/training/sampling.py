"""Training batches and randomness that a resumed run replays exactly.

A run killed in epoch 3 and resumed from its checkpoint must end with the
weights an uninterrupted run ends with. So nothing random in training depends
on what came before: an epoch's batch order is drawn from ``(seed, epoch)``
alone, and each optimizer step's dropout from ``(seed, step)`` alone. A
resumed epoch skips the batches its checkpoint had already trained on.

Under data-parallel training (``trainer=ddp_cpu``) every process draws the
same batches, and each takes its share of every batch: ``batch_size`` stays
the size of one optimizer step's batch whatever the number of processes, so a
config trains the same model, step for step, on one process or on several
(DDP averages the shares' gradients, which is the whole batch's gradient when
the loss is a mean over equal shares).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import Sampler

from stillroom.errors import StillroomError
from stillroom.training.distributed import process_rank


def derived_seed(*parts: object) -> int:
    """A 63-bit seed that depends on ``parts`` only (not on Python's hash randomisation)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big") >> 1


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of indices, shuffled per epoch from ``(seed, epoch)``; a resumed epoch skips its done batches.

    :class:`ReplayableRandomness` sets the epoch as each one starts, and
    :class:`~stillroom.training.checkpoints.ResumableTraining` the batches to skip when it
    restores a checkpoint saved mid-epoch. ``len`` stays the whole epoch's count, which is what Lightning
    expects of a resumed loader.
    """

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self._skip: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume(self, epoch: int, batches_done: int) -> None:
        """Continue ``epoch`` after its first ``batches_done`` batches (Lightning starts no new epoch on a restart)."""
        self.epoch = epoch
        self._skip = (epoch, batches_done)

    def order(self) -> list[int]:
        generator = torch.Generator().manual_seed(derived_seed(self.seed, "epoch", self.epoch))
        return torch.randperm(self.size, generator=generator).tolist()

    def batches(self, order: Sequence[int]) -> list[list[int]]:
        return [list(order[start : start + self.batch_size]) for start in range(0, len(order), self.batch_size)]

    def shares(self, batch: list[int], processes: int) -> list[list[int]]:
        """``batch`` cut into one share per process, as equal as can be; none empty (see :func:`_enough_for`)."""
        return [batch[rank::processes] for rank in range(processes)]

    def parts(self, batch: list[int]) -> int:
        """How many shares ``batch`` can be cut into: its rows."""
        return len(batch)

    def _epoch_batches(self, order: Sequence[int]) -> list[list[int]]:
        rank, processes = process_rank()
        batches = self.batches(order)
        if processes == 1:
            return batches
        return [self.shares(batch, processes)[rank] for batch in _enough_for(batches, processes, self.parts)]

    def __iter__(self) -> Iterator[list[int]]:
        skip = self._skip[1] if self._skip and self._skip[0] == self.epoch else 0
        self._skip = None
        yield from self._epoch_batches(self.order())[skip:]

    def __len__(self) -> int:
        return len(self._epoch_batches(self.order()))  # this epoch's: packing whole requests makes the count vary by order


class RequestBatchSampler(EpochBatchSampler):
    """Batches of whole requests: a request's candidates stay together, so ranking terms can compare them.

    Requests are shuffled each epoch and packed into batches of at most
    ``batch_size`` pairs (a request with more candidates than that fills a
    batch of its own).
    """

    def __init__(self, request_ids: Sequence[str], batch_size: int, seed: int) -> None:
        self.by_request: dict[str, list[int]] = {}
        for index, request in enumerate(request_ids):
            self.by_request.setdefault(request, []).append(index)
        self.requests = list(self.by_request)
        self.request_of = {row: request for request, rows in self.by_request.items() for row in rows}
        super().__init__(len(self.requests), batch_size, seed)

    def batches(self, order: Sequence[int]) -> list[list[int]]:
        batches: list[list[int]] = [[]]
        for position in order:
            rows = self.by_request[self.requests[position]]
            if batches[-1] and len(batches[-1]) + len(rows) > self.batch_size:
                batches.append([])
            batches[-1].extend(rows)
        return [batch for batch in batches if batch]

    def _requests_in(self, batch: list[int]) -> list[list[int]]:
        return [self.by_request[request] for request in dict.fromkeys(self.request_of[row] for row in batch)]

    def parts(self, batch: list[int]) -> int:
        """How many shares ``batch`` can be cut into: its requests, which are never split."""
        return len(self._requests_in(batch))

    def shares(self, batch: list[int], processes: int) -> list[list[int]]:
        """Whole requests per process, each request to the share with the fewest rows so far."""
        shares: list[list[int]] = [[] for _ in range(processes)]
        for rows in self._requests_in(batch):
            min(shares, key=len).extend(rows)
        return shares


def _enough_for(batches: list[list[int]], processes: int, parts: Callable[[list[int]], int]) -> list[list[int]]:
    """The batches, one with too few rows (or requests) to give every process a share joined with the next (the last
    such with the one before it); a batch with enough is left as it is."""
    joined: list[list[int]] = []
    pending: list[int] = []
    for batch in batches:
        pending = pending + batch
        if parts(pending) >= processes:
            joined.append(pending)
            pending = []
    if pending and joined:
        joined[-1] = joined[-1] + pending
    elif pending:
        raise StillroomError(
            f"{parts(pending)} training rows or requests cannot be shared among {processes} processes; "
            "train on fewer processes (trainer.devices) or on more data",
            where="trainer.devices",
        )
    return joined


class ReplayableRandomness(pl.Callback):
    """Tells the sampler each epoch's number and seeds each step, so no random draw depends on the run's history."""

    def __init__(self, sampler: EpochBatchSampler, seed: int) -> None:
        self.sampler = sampler
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.sampler.set_epoch(trainer.current_epoch)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        # Dropout masks then depend on (seed, step) alone.
        torch.manual_seed(derived_seed(self.seed, "step", trainer.global_step))
