"""Consensus of several valuation methods by mean rank, with their agreement.

Values of different methods live on different scales (accuracy gains, OOB
accuracy, influence scores), so only their orders are combined. Each method ranks
the rows (1 = lowest value, ties averaged); a row's consensus value is its mean
rank divided by the number of rows, in (0, 1]: near 0 means every method puts it
among the most harmful. Its standard error is the spread of its normalised ranks
across methods divided by sqrt(m); its count is m, the number of methods. As many
rows count as harmful (`harmful_below`) as the methods flag on average, those of
lowest mean rank. There is no parameter to tune.

Agreement is reported as the matrices of pairwise Kendall tau-b and Spearman rank
correlations between the methods, in `diagnostics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import kendalltau, rankdata

from mendb.valuation.result import ValuationResult


def _aligned_ranks(results: list[ValuationResult]) -> NDArray[np.float64]:
    """(methods x rows) average ranks, rows in the order of the first result."""
    keys = results[0].row_keys
    position = {key: i for i, key in enumerate(keys)}
    if len(position) != len(keys):
        raise ValueError(f"{results[0].method}: row keys are not unique")
    ranks = np.empty((len(results), len(keys)))
    for m, result in enumerate(results):
        if len(result) != len(keys) or any(k not in position for k in result.row_keys):
            missing = set(position).symmetric_difference(result.row_keys)
            raise ValueError(
                f"{result.method} valued different rows than {results[0].method}: "
                f"e.g. row {next(iter(missing), '?')!r}"
            )
        order = np.fromiter((position[k] for k in result.row_keys), np.int64, len(keys))
        ranks[m, order] = rankdata(result.values)
    return ranks


def _agreement(ranks: NDArray[np.float64]) -> tuple[list[list[float]], list[list[float]]]:
    m = len(ranks)
    kendall, spearman = np.eye(m), np.corrcoef(ranks) if ranks.shape[1] > 1 else np.eye(m)
    for a in range(m):
        for b in range(a + 1, m):
            tau = kendalltau(ranks[a], ranks[b]).statistic
            kendall[a, b] = kendall[b, a] = tau
    clean = [[float(v) if np.isfinite(v) else 0.0 for v in row] for row in np.atleast_2d(spearman)]
    return [[float(v) if np.isfinite(v) else 0.0 for v in row] for row in kendall], clean


def consensus(results: list[ValuationResult]) -> ValuationResult:
    """Mean normalised rank over methods; rows matched by `row_keys`."""
    if not results:
        raise ValueError("consensus needs at least one result")
    ranks = _aligned_ranks(results) / len(results[0])
    kendall, spearman = _agreement(ranks)
    methods = [r.method for r in results]
    diagnostics: dict[str, Any] = {
        "methods": methods,
        "kendall": kendall,
        "spearman": spearman,
        "mean_pairwise_spearman": _mean_off_diagonal(spearman),
    }
    m = len(results)
    spread = ranks.std(axis=0, ddof=1) / np.sqrt(m) if m > 1 else np.zeros(ranks.shape[1])
    values = ranks.mean(axis=0)
    return ValuationResult(
        row_keys=results[0].row_keys,
        values=values,
        stderr=spread,
        counts=np.full(ranks.shape[1], m, dtype=np.int64),
        method="consensus",
        params={"methods": methods},
        seed=None,
        diagnostics=diagnostics,
        harmful_below=_harmful_below(results, values),
    )


def _harmful_below(results: list[ValuationResult], values: NDArray[np.float64]) -> float | None:
    """As many rows count as harmful as the methods flag on average (those with a
    point below which a row hurts), the lowest mean ranks first: the threshold is
    the mean rank just above them."""
    shares = [r.harmful().mean() for r in results if r.harmful_below is not None]
    if not shares:
        return None
    count = round(float(np.mean(shares)) * len(values))
    if count == 0:
        return float(values.min())
    ordered = np.sort(values)
    if count >= len(ordered):
        return float(np.nextafter(ordered[-1], np.inf))
    return float(ordered[count])


def _mean_off_diagonal(matrix: list[list[float]]) -> float | None:
    m = len(matrix)
    pairs = [matrix[a][b] for a in range(m) for b in range(a + 1, m)]
    return float(np.mean(pairs)) if pairs else None
