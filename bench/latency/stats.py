"""Latency statistics and the ours/baseline comparison."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

TARGET_RATIO = 1.05
BOOTSTRAP_ROUNDS = 2000


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Summary:
    """Caller INVITE -> first agent INVITE, in milliseconds, for one variant."""

    variant: str
    number: str
    n: int
    failed: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    stdev_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(variant: str, number: str, samples_ms: Sequence[float], failed: int) -> Summary:
    n = len(samples_ms)
    return Summary(
        variant=variant,
        number=number,
        n=n,
        failed=failed,
        p50_ms=percentile(samples_ms, 50),
        p90_ms=percentile(samples_ms, 90),
        p99_ms=percentile(samples_ms, 99),
        mean_ms=statistics.fmean(samples_ms) if n else math.nan,
        min_ms=min(samples_ms) if n else math.nan,
        max_ms=max(samples_ms) if n else math.nan,
        stdev_ms=statistics.stdev(samples_ms) if n > 1 else math.nan,
    )


@dataclass(frozen=True, slots=True)
class Comparison:
    """Ours divided by the baseline at p50 and p99; met when both are <= TARGET_RATIO."""

    ours: str
    baseline: str
    ratio_p50: float
    ratio_p99: float
    # 95 % bootstrap intervals: how far the ratio moves from sampling noise alone.
    ci95_p50: tuple[float, float]
    ci95_p99: tuple[float, float]

    @property
    def met_p50(self) -> bool:
        return self.ratio_p50 <= TARGET_RATIO

    @property
    def met_p99(self) -> bool:
        return self.ratio_p99 <= TARGET_RATIO

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "target": TARGET_RATIO,
            "met_p50": self.met_p50,
            "met_p99": self.met_p99,
        }


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def bootstrap_ratio(
    ours: Sequence[float], base: Sequence[float], q: float, seed: int = 1
) -> tuple[float, float]:
    """95 % interval of percentile(ours, q) / percentile(base, q), resampling both."""
    if not ours or not base:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    ratios = sorted(
        _ratio(
            percentile(rng.choices(ours, k=len(ours)), q),
            percentile(rng.choices(base, k=len(base)), q),
        )
        for _ in range(BOOTSTRAP_ROUNDS)
    )
    return (percentile(ratios, 2.5), percentile(ratios, 97.5))


def compare(
    ours: Summary, base: Summary, ours_ms: Sequence[float], base_ms: Sequence[float]
) -> Comparison:
    return Comparison(
        ours=ours.variant,
        baseline=base.variant,
        ratio_p50=_ratio(ours.p50_ms, base.p50_ms),
        ratio_p99=_ratio(ours.p99_ms, base.p99_ms),
        ci95_p50=bootstrap_ratio(ours_ms, base_ms, 50),
        ci95_p99=bootstrap_ratio(ours_ms, base_ms, 99),
    )
