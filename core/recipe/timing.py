"""How far a run is and how long it has left: "stage 4/9" and an estimate from earlier runs.

A stage's seconds are recorded when it completes (``_complete.json``), with the
fingerprint of the config it read (:data:`CONFIG_FINGERPRINT`). Runs of one
product share a parent folder (``outputs/jobs/``), so the earlier runs beside
this one say how long each stage tends to take here, counting only those whose
stage read the same config (a smoke run's minutes say nothing of a full
run's); this run's own record counts too (a rerun after a change). A stage no
such run timed is named rather than guessed.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from stillroom.artifacts import COMPLETE_MARKER
from stillroom.training.progress import duration

CONFIG_FINGERPRINT = "config_fingerprint"
"""The key of a stage's summary that holds the fingerprint of the config it read."""


def earlier_seconds(run_dir: Path, configs: Mapping[str, str]) -> dict[str, float]:
    """The median seconds each stage took in the runs beside ``run_dir`` (and in it) when it read the config
    ``configs`` fingerprints for it (stage name -> fingerprint), for the stages any of them ran so."""
    timed: dict[str, list[float]] = {}
    folders = sorted(run_dir.parent.iterdir()) if run_dir.parent.is_dir() else []
    for folder in folders:
        for stage, config in configs.items():
            seconds = _recorded_seconds(folder / stage / COMPLETE_MARKER, config)
            if seconds is not None:
                timed.setdefault(stage, []).append(seconds)
    return {stage: statistics.median(values) for stage, values in timed.items()}


def _recorded_seconds(marker: Path, config: str) -> float | None:
    try:
        summary = json.loads(marker.read_text(encoding="utf-8"))["summary"]
        seconds = summary["seconds"] if summary.get(CONFIG_FINGERPRINT) == config else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return float(seconds) if isinstance(seconds, int | float) else None


class RunClock:
    """Numbers a run's stages as they start and says, after each, how long the rest should take."""

    def __init__(self, stages: Sequence[str], earlier: dict[str, float]) -> None:
        self.stages, self.earlier = list(stages), earlier
        self.started = time.monotonic()

    def position(self, stage: str) -> str:
        """``stage 4/9``."""
        return f"stage {self.stages.index(stage) + 1}/{len(self.stages)}"

    def left_after(self, stage: str) -> str:
        """What is left once ``stage`` is done: the elapsed time and the estimate, or nothing after the last stage."""
        rest = self.stages[self.stages.index(stage) + 1 :]
        if not rest:
            return ""
        elapsed = f"{duration(time.monotonic() - self.started)} so far"
        known = [name for name in rest if name in self.earlier]
        unknown = [name for name in rest if name not in self.earlier]
        if not known:
            return f"{elapsed}; no earlier run to estimate the rest from"
        estimate = f"about {duration(sum(self.earlier[name] for name in known))} left"
        if unknown:
            estimate += f" plus {', '.join(unknown)} (not timed before)"
        return f"{elapsed}, {estimate}"
