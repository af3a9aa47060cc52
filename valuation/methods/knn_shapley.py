"""Exact KNN-Shapley (Jia et al., "Efficient task-specific data valuation for
nearest neighbor algorithms", VLDB 2019, Theorem 1).

For one validation point, sort the N training rows by distance, nearest first
(alpha_1 ... alpha_N), and let m_i = 1 when alpha_i has the validation label. The
Shapley values of the K-nearest-neighbour utility

    u(S) = (1/K) * sum over the min(K, |S|) nearest rows of S of m_i,   u(empty) = 0

are given by the recursion

    s_N = m_N / max(N, K)
    s_i = s_{i+1} + (m_i - m_{i+1}) / K * min(K, i) / i.

It unrolls into a reversed cumulative sum, so a batch of validation points is a few
tensor operations; values are averaged over the validation points. Batches are
sized so the (batch x N) working set stays bounded whatever N is.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import torch
from numpy.typing import NDArray

from valuation._validation import check_int
from valuation.base import ProgressCallback, Valuation
from valuation.data import TrainingArrays
from valuation.result import ValuationResult

_WORKING_SET = 1 << 22  # elements of one (batch x N) tensor: 32 MB in float64


def knn_shapley(
    x_train: NDArray[np.floating],
    y_train: NDArray[np.integer],
    x_valid: NDArray[np.floating],
    y_valid: NDArray[np.integer],
    k: int,
    progress: ProgressCallback | None = None,
) -> NDArray[np.float64]:
    """Exact KNN-Shapley value of every training row, averaged over validation rows."""
    n = len(x_train)
    if n == 0:
        return np.zeros(0)
    xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float64))
    yt = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    xv = torch.from_numpy(np.ascontiguousarray(x_valid, dtype=np.float64))
    yv = torch.from_numpy(np.asarray(y_valid, dtype=np.int64))

    ranks = torch.arange(1, n, dtype=torch.float64)  # i = 1 .. N-1
    weights = torch.clamp(ranks, max=k) / (k * ranks)  # min(K, i) / (K i)
    train_sq = (xt * xt).sum(dim=1)
    totals = torch.zeros(n, dtype=torch.float64)
    batch = max(1, _WORKING_SET // n)

    for start in range(0, len(xv), batch):
        xb, yb = xv[start : start + batch], yv[start : start + batch]
        # Squared distances up to the per-row constant |x_valid|^2, which does
        # not change the order.
        dist = train_sq.unsqueeze(0) - 2.0 * (xb @ xt.T)
        order = torch.argsort(dist, dim=1, stable=True)
        match = (yt[order] == yb.unsqueeze(1)).to(torch.float64)
        steps = (match[:, :-1] - match[:, 1:]) * weights
        # s_i = s_N + sum_{j >= i} steps_j, as a reversed cumulative sum.
        tail = torch.flip(torch.cumsum(torch.flip(steps, [1]), 1), [1])
        sorted_values = torch.cat([tail, torch.zeros(len(xb), 1, dtype=torch.float64)], 1)
        sorted_values += match[:, -1:] / max(n, k)
        totals.index_add_(0, order.reshape(-1), sorted_values.reshape(-1))
        if progress is not None:
            progress(min(1.0, (start + len(xb)) / len(xv)))
    return (totals / max(len(xv), 1)).numpy()


class KNNShapley(Valuation):
    """Exact KNN-Shapley over the dataset's feature space (standardised by `db/`)."""

    method = "knn_shapley"

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def fit(self, data: TrainingArrays, progress: ProgressCallback | None = None) -> Self:
        k = check_int("k", self.k, low=1)
        values = knn_shapley(
            data.train.x, data.train.y, data.valid.x, data.valid.y, k, progress=progress
        )
        self._result = ValuationResult.exact(
            data.train.keys, values, self.method, self.get_params()
        )
        return self
