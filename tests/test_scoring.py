"""Throughput timing: interleaved rounds, enough passes for a fast model, the best pass kept."""

from __future__ import annotations

import time

import torch

from stillroom.scoring import Timed, measure_throughputs

CPU = {"accelerator": "cpu", "precision": "32-true"}


class SleepyRanker(torch.nn.Module):
    """A stand-in ranker whose forward pass takes a known time and records who ran when."""

    def __init__(self, name: str, seconds: float, log: list[str]) -> None:
        super().__init__()
        self.name, self.seconds, self.log = name, seconds, log

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.log.append(self.name)
        time.sleep(self.seconds)
        return torch.zeros(input_ids.shape[0], 4)


def test_models_are_timed_in_interleaved_rounds_and_fast_ones_get_more_passes() -> None:
    log: list[str] = []
    batches = [{"input_ids": torch.zeros(32, 8, dtype=torch.long)}] * 2
    models = {
        "slow": Timed(SleepyRanker("slow", 0.04, log), batches),
        "fast": Timed(SleepyRanker("fast", 0.004, log), batches),
    }
    figures = measure_throughputs(models, rounds=2, trainer_config=CPU, slice_seconds=0.06)

    # Rounds alternate: slow, then fast, then slow again, then fast.
    changes = [name for i, name in enumerate(log) if i == 0 or log[i - 1] != name]
    assert changes == ["slow", "fast", "slow", "fast"]
    # A pass is two batches; the fast model keeps passing until it has spent its slice.
    assert log.count("fast") >= 2 * (1 + 2 * 7)  # per round: a warm-up batch, then at least 7 passes of 8 ms
    assert 64 / (2 * 0.04) * 0.5 < figures["slow"] <= 64 / (2 * 0.04)
    assert 64 / (2 * 0.004) * 0.5 < figures["fast"] <= 64 / (2 * 0.004)
