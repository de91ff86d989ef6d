"""Throughput timing: interleaved rounds, enough passes for a fast model, the best pass kept."""

from __future__ import annotations

import time

import torch

from stillroom.data import Pair
from stillroom.stages.evaluate import ranking_calls
from stillroom.training.scoring import Timed, measure_throughputs

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


class CachingRanker(torch.nn.Module):
    """A stand-in for a ranker that caches candidates: slow on a batch it has not seen, instant after; a device move forgets."""

    caches_candidates = True

    def __init__(self, cold_seconds: float) -> None:
        super().__init__()
        self.cold_seconds = cold_seconds
        self.seen: set[int] = set()

    def _apply(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.seen.clear()
        return super()._apply(fn, *args, **kwargs)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        key = int(input_ids[0, 0])
        if key not in self.seen:
            time.sleep(self.cold_seconds)
            self.seen.add(key)
        return torch.zeros(input_ids.shape[0], 4)


def test_a_caching_ranker_is_timed_with_every_candidate_cached() -> None:
    """Its cold pass outlasts the slice; were it timed, the figure would be at most 64 pairs per 0.1 s."""
    batches = [{"input_ids": torch.full((32, 8), index, dtype=torch.long)} for index in range(2)]
    figures = measure_throughputs({"cached": Timed(CachingRanker(cold_seconds=0.05), batches)}, rounds=2, trainer_config=CPU, slice_seconds=0.01)
    assert figures["cached"] > 64 / 0.1 * 10


def _requests(**sizes: int) -> list[Pair]:
    return [Pair(f"{r}:{i}", r, str(i), r, str(i)) for r, size in sizes.items() for i in range(size)]


def test_a_ranking_call_holds_whole_requests_and_only_a_long_one_spans_calls() -> None:
    calls = ranking_calls(_requests(a=20, b=20, c=20, d=20, e=70, f=5), batch_size=64, max_pairs=1000)
    assert [len(call) for call in calls] == [60, 20, 64, 11]
    calls_of = {r: {i for i, call in enumerate(calls) for p in call if p.request_id == r} for r in "abcdef"}
    assert all(len(calls_of[r]) == 1 for r in "abcdf") and calls_of["e"] == {2, 3}


def test_ranking_calls_take_whole_requests_up_to_the_pair_budget() -> None:
    assert [len(call) for call in ranking_calls(_requests(a=20, b=20, c=20), batch_size=64, max_pairs=50)] == [40]
    assert [len(call) for call in ranking_calls(_requests(a=90), batch_size=64, max_pairs=50)] == [64, 26]  # one request at least
