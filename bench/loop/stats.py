"""The figures the loop benchmark publishes: the share of the clean - noisy gap a
repair won back, 95 % bootstrap intervals over seeds, the "never worse" verdict, the
relabels' precision and the minority class's share. Pure numpy: every figure in the
report comes from here."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DRAWS = 2000
# A gap smaller than this (in the metric's own units: balanced accuracy, nats of
# log-loss) is a row or two of the test split; a share of it says nothing.
MIN_GAP = 0.005
Statistic = Callable[[list[NDArray[np.float64]]], float]


def recovered_share(final: float, clean: float, noisy: float, higher_is_better: bool) -> float:
    """(final - noisy) / (clean - noisy), oriented so that 1 is "as good as clean"
    and 0 "as bad as noisy" whichever way the metric points; NaN when the noise
    did not make the metric worse by at least `MIN_GAP` (no gap to win back)."""
    sign = 1.0 if higher_is_better else -1.0
    gap = sign * (clean - noisy)
    if not gap >= MIN_GAP:
        return math.nan
    return sign * (final - noisy) / gap


def share_of_mean_gap(rows: NDArray[np.float64], higher_is_better: bool) -> float:
    """The recovered share of the mean gap; `rows` holds (final, clean, noisy) per
    seed. Means first: a seed whose gap is a row or two of the test split would
    swing a mean of per-seed shares."""
    final, clean, noisy = np.nanmean(rows, axis=0)
    return recovered_share(float(final), float(clean), float(noisy), higher_is_better)


def mean_of_shares(groups: list[NDArray[np.float64]], higher_is_better: bool) -> float:
    """The mean over groups (tables) of each group's share of its mean gap;
    groups without a gap are left out."""
    shares = [share_of_mean_gap(g, higher_is_better) for g in groups]
    finite = [s for s in shares if not math.isnan(s)]
    return float(np.mean(finite)) if finite else math.nan


def bootstrap_interval(
    groups: list[NDArray[np.float64]], statistic: Statistic, draws: int = DRAWS, seed: int = 0
) -> tuple[float, float]:
    """A 95 % percentile interval for `statistic`, resampling the seeds (rows)
    of each group independently; NaN when a group has fewer than two seeds."""
    if not groups or any(len(g) < 2 for g in groups):
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    values = np.array(
        [statistic([g[rng.integers(0, len(g), len(g))] for g in groups]) for _ in range(draws)]
    )
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return (math.nan, math.nan)
    low, high = np.percentile(values, [2.5, 97.5])
    return (float(low), float(high))


@dataclass(frozen=True)
class Verdict:
    """Final against noisy, oriented so that a positive difference is better:
    the mean over seeds, its 95 % interval, and whether it is worse (the whole
    interval below zero; with one seed, the difference itself)."""

    mean: float
    low: float
    high: float
    worse: bool


def never_worse(
    final: NDArray[np.float64], noisy: NDArray[np.float64], higher_is_better: bool
) -> Verdict:
    sign = 1.0 if higher_is_better else -1.0
    diff = sign * (np.asarray(final, dtype=np.float64) - np.asarray(noisy, dtype=np.float64))
    low, high = bootstrap_interval([diff[:, None]], lambda g: float(g[0].mean()))
    mean = float(diff.mean())
    worse = mean < -1e-12 if math.isnan(high) else high < -1e-12
    return Verdict(mean, low, high, bool(worse))


def precision(right: int, wrong: int) -> float:
    """The share of relabels that gave a row its clean label; NaN without any."""
    total = right + wrong
    return right / total if total else math.nan


def minority_share(labels: NDArray[np.int64], minority: int) -> float:
    """The share of rows labelled as the minority class (its index); NaN without rows."""
    return float(np.mean(labels == minority)) if len(labels) else math.nan
