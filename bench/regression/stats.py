"""The figures the regression benchmark publishes: detection of the planted rows
(AUROC, AP), downstream RMSE and MAE on the sealed test rows, and the share of the
noisy - clean RMSE gap a repair won back. Pure numpy and scikit-learn metrics:
every figure in the report comes from here."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from bench.metrics import detection as _detection

# A gap smaller than this share of the clean RMSE is within what refitting on a
# reshuffled split moves; a share of it says nothing.
MIN_GAP_RATIO = 0.01


def detection(values: NDArray[np.float64], planted: NDArray[np.bool_]) -> dict[str, float]:
    """AUROC, AP and precision at k (k = planted rows) of finding the planted rows
    at the bottom of `values` (lower = more suspicious, as mendb stores values;
    non-finite values count as least suspicious)."""
    planted = np.asarray(planted, dtype=bool)
    if planted.all() or not planted.any():
        return {"auroc": math.nan, "ap": math.nan, "p_at_k": math.nan}
    return _detection(np.asarray(values, dtype=np.float64), planted)


def rmse(y: NDArray[np.float64], predicted: NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(predicted)) ** 2)))


def mae(y: NDArray[np.float64], predicted: NDArray[np.float64]) -> float:
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(predicted))))


def recovered_share(final: float, clean: float, noisy: float) -> float:
    """(noisy - final) / (noisy - clean) for an error (lower is better): 1 is as
    good as the clean rows, 0 as bad as the noisy ones, below 0 worse; NaN when
    the noise did not raise the error by `MIN_GAP_RATIO` of the clean error."""
    gap = noisy - clean
    if not gap > MIN_GAP_RATIO * abs(clean):
        return math.nan
    return (noisy - final) / gap


def share_of_mean_gap(rows: NDArray[np.float64]) -> float:
    """The recovered share of the mean gap; `rows` holds (final, clean, noisy) per
    seed. Means first: a seed with almost no gap would swing a mean of shares."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    if len(rows) == 0:
        return math.nan
    final, clean, noisy = np.nanmean(rows, axis=0)
    return recovered_share(float(final), float(clean), float(noisy))


def mean_of_shares(groups: list[NDArray[np.float64]]) -> float:
    """The mean over groups (tables or cells) of each one's share of its mean gap;
    groups without a gap are left out."""
    shares = [share_of_mean_gap(g) for g in groups]
    finite = [s for s in shares if not math.isnan(s)]
    return float(np.mean(finite)) if finite else math.nan


def mean_finite(values: list[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan
