"""How sure a figure is: bootstrap intervals over requests and paired randomization tests (``scipy.stats``).

A ranking figure on golden test is a mean over its requests (members,
queries), and a few dozen requests leave it a few points of noise. Every
figure the report prints therefore carries a bootstrap interval that resamples
requests, and every comparison a team decides on is *paired*: both models are
scored on the same resampled requests, which cancels the requests' own
difficulty and leaves the models' difference (Sakai, "Evaluating evaluation
metrics based on the bootstrap", SIGIR 2006; ranx's and ir_measures' paired
tests). The p-value comes from a paired randomization test: under the null
hypothesis the two models' values on each request are exchangeable, so
swapping them at random gives the null distribution of the mean difference.

A figure may be a weighted mean (a violation rate counts top-k slots, and a
request with fewer candidates fills fewer), so every statistic here takes
per-request weights; plain means have weight 1 everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

BETTER, WORSE, NOT_RESOLVED = "better", "worse", "not resolved"
INTERVAL_METHODS = ("percentile", "basic", "BCa")
"""``scipy.stats.bootstrap``'s methods."""
Verdict = Literal["better", "worse", "not resolved"]


@dataclass(frozen=True)
class IntervalSettings:
    """How intervals are drawn (``evaluator.intervals``)."""

    confidence: float = 0.95
    resamples: int = 10_000
    method: Literal["percentile", "basic", "BCa"] = "percentile"
    """``scipy.stats.bootstrap``'s method; the percentile interval never fails on a degenerate sample."""
    seed: int = 0
    """The resampling is seeded, so a report is the same every time it is built from the same results."""

    @classmethod
    def of_run(cls, config: Mapping[str, Any]) -> IntervalSettings:
        """The settings a run's ``evaluator.intervals`` asks for, seeded by the run's seed."""
        intervals = config["evaluator"]["intervals"]
        return cls(intervals["confidence"], intervals["resamples"], intervals["method"], config["seed"])


@dataclass(frozen=True)
class PairedDifference:
    """Model ``a`` minus model ``b`` on the same requests."""

    difference: float
    ci: tuple[float, float]
    p_value: float


def _weighted_mean(values: np.ndarray, weights: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(values * weights, axis=axis) / np.sum(weights, axis=axis)


def _as_arrays(*columns: Sequence[float]) -> list[np.ndarray]:
    arrays = [np.asarray(column, dtype=float) for column in columns]
    if len({len(a) for a in arrays}) != 1 or not len(arrays[0]):
        raise ValueError("every column needs one value per request, and at least one request")
    return arrays


def mean_interval(values: Sequence[float], weights: Sequence[float], settings: IntervalSettings) -> tuple[float, float]:
    """The bootstrap interval of the weighted mean of ``values``, resampling requests."""
    values_, weights_ = _as_arrays(values, weights)
    if np.ptp(values_) == 0:  # every request scored the same: nothing to resample
        return (float(values_[0]), float(values_[0]))
    result = stats.bootstrap(
        (values_, weights_),
        _weighted_mean,
        paired=True,
        vectorized=True,
        n_resamples=settings.resamples,
        confidence_level=settings.confidence,
        method=settings.method,
        rng=np.random.default_rng(settings.seed),
    )
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def paired_difference(a: Sequence[float], b: Sequence[float], weights: Sequence[float], settings: IntervalSettings) -> PairedDifference:
    """``a`` minus ``b``, request by request: the weighted mean difference, its paired bootstrap
    interval and a two-sided p-value from a paired randomization test."""
    a_, b_, weights_ = _as_arrays(a, b, weights)
    differences = a_ - b_
    observed = float(_weighted_mean(differences, weights_))
    if np.ptp(differences) == 0:  # the same difference on every request (often none at all): no spread to test
        return PairedDifference(observed, (observed, observed), 1.0 if observed == 0 else 0.0)
    ci = mean_interval(differences, weights_, settings)
    # Swapping a request's two values flips the sign of its weighted difference; scaling by the mean weight
    # makes the plain mean of the scaled values the weighted mean difference, which the test permutes.
    scale = weights_ / weights_.mean()
    test = stats.permutation_test(
        (a_ * scale, b_ * scale),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=settings.resamples,
        rng=np.random.default_rng(settings.seed + 1),
    )
    return PairedDifference(observed, ci, float(test.pvalue))


def verdict(ci: tuple[float, float], higher_is_better: bool = True) -> Verdict:
    """``better`` when the whole interval of ``a - b`` lies on the good side of zero, ``worse`` when on the
    bad side, ``not resolved`` when it holds zero: the data cannot tell the two apart."""
    low, high = ci
    if low > 0 or high < 0:
        return BETTER if (low > 0) == higher_is_better else WORSE
    return NOT_RESOLVED


def bound_text(value: float, digits: int = 3) -> str:
    """One end of an interval, signed, with enough decimals that a bound which is not zero never prints as ``-0.000``:
    ``[-0.039, -0.0004]`` excludes 0, and says so; ``[-0.039, -0.000]`` seemed to hold it."""
    while digits < 8 and value != 0 and round(value, digits) == 0:
        digits += 1
    return f"{value:+.{digits}f}"


def interval_text(ci: Sequence[float], digits: int = 3) -> str:
    """``[low, high]`` with :func:`bound_text`'s ends."""
    return f"[{bound_text(ci[0], digits)}, {bound_text(ci[1], digits)}]"
