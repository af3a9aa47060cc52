"""Exact KNN-Shapley (Jia et al., "Efficient task-specific data valuation for
nearest neighbor algorithms", VLDB 2019, Theorem 1).

For one validation point, sort the N training rows by distance, nearest first
(alpha_1 ... alpha_N), and let m_i = 1 when alpha_i has the validation label. The
Shapley values of the K-nearest-neighbour utility

    u(S) = (1/K) * sum over the min(K, |S|) nearest rows of S of m_i,   u(empty) = 0

are given by the recursion

    s_N = m_N / max(N, K)
    s_i = s_{i+1} + (m_i - m_{i+1}) / K * min(K, i) / i.

Unrolled, s_i = s_N + T - C_{i-1}, where C is the cumulative sum of the steps
(m_j - m_{j+1}) / max(K, j) and T its total; so a batch of validation points costs
one distance product, one sort, one cumulative sum and one `bincount`, which adds
every validation point's -C into the rows' totals (the constants s_N + T are added
to every row at once). Rows at equal distance are ordered by row index (a stable
sort); the fast unstable sort is used and only the validation points that have
ties are sorted again stably. Batches are sized so the (batch x N) working set
stays bounded whatever N is, run on a few threads (numpy releases the GIL in the
product and the sort), and are summed in batch order, so the values do not
depend on the number of threads (`valuation.methods._neighbours`). A regression
target has its own recursion on the same kernel (`valuation.methods.knn_regression`).

With `utility="balanced_accuracy"` (or "auto" on an imbalanced label) each
validation row's utility is weighted by `valuation.utility.class_weights` of the
validation labels, so the KNN utility becomes class-balanced. Shapley values are
linear in the utility, so the weighted values are the weighted mean of the
per-validation-row values and the kernel stays exact.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from mendb.valuation._validation import InvalidParameterError, check_choice, check_int
from mendb.valuation.base import ProgressCallback, Valuation
from mendb.valuation.data import TrainingArrays
from mendb.valuation.methods._neighbours import WORKING_SET, Neighbours, batched_mean
from mendb.valuation.methods.knn_regression import knn_shapley_regression
from mendb.valuation.result import ValuationResult
from mendb.valuation.task_support import is_regression
from mendb.valuation.utility import UTILITIES, choose_utility, class_weights

_WORKING_SET = WORKING_SET  # elements of one (batch x N) array (tests shrink it)


# Deliberately like gradient_influence and ts_shapley._fill_unsampled in shape: every
# kernel takes its arrays first, by the same names.
def knn_shapley(
    x_train: NDArray[np.floating],
    y_train: NDArray[np.integer],
    x_valid: NDArray[np.floating],
    y_valid: NDArray[np.integer],
    k: int,
    progress: ProgressCallback | None = None,
    weights: NDArray[np.floating] | None = None,
) -> NDArray[np.float64]:
    """Exact KNN-Shapley value of every training row, averaged over validation rows
    (weighted by `weights`, one per validation row, when given)."""
    n = len(x_train)
    if n == 0:
        return np.zeros(0)
    yv = np.asarray(y_valid, dtype=np.int64)
    wv = None if weights is None else np.asarray(weights, dtype=np.float64)
    if wv is not None and wv.shape != yv.shape:
        raise ValueError(f"weights has shape {wv.shape}, expected {yv.shape}")
    kernel = _Kernel(x_train, y_train, k)
    return batched_mean(kernel, n, x_valid, (yv, wv), progress, _WORKING_SET)


class _Kernel(Neighbours):
    """The training side, shared by every batch: rows, labels, squared norms, weights."""

    def __init__(self, x_train: NDArray[np.floating], y_train: NDArray[np.integer], k: int) -> None:
        super().__init__(x_train)
        self.y = np.asarray(y_train, dtype=np.int64)
        n = len(self.y)
        self.weights = 1.0 / np.maximum(np.arange(1, n, dtype=np.float64), k)  # j = 1 .. N-1
        self.last = 1.0 / max(n, k)

    def __call__(
        self, xb: NDArray[np.float64], yb: NDArray[np.int64], wb: NDArray[np.float64] | None
    ) -> NDArray[np.float64]:
        """The (weighted) sum over the batch's validation rows of every training
        row's value."""
        n = len(self.y)
        order = self.order(xb)
        match = self.y[order] == yb[:, None]
        steps = np.subtract(match[:, :-1], match[:, 1:], dtype=np.float64)
        steps *= self.weights
        last = match[:, -1].astype(np.float64)
        if wb is not None:
            steps *= wb[:, None]
            last *= wb
        cumulative = np.cumsum(steps, axis=1)
        total = cumulative[:, -1].sum() if n > 1 else 0.0
        constant = total + last.sum() * self.last
        # Position i (0-based) gets s_N + T - C_{i-1}; position 0 gets s_N + T.
        spread = np.bincount(order[:, 1:].ravel(), cumulative.ravel(), minlength=n)
        values: NDArray[np.float64] = constant - spread
        return values


class KNNShapley(Valuation):
    """Exact KNN-Shapley over the dataset's feature space (standardised by `db/`).

    For a class label `utility` is "accuracy", "balanced_accuracy" or "auto"
    (balanced when the training label is imbalanced, see
    `valuation.utility.choose_utility`). For a regression target the K-NN regressor
    is valued for minus its squared error (`valuation.methods.knn_regression`);
    `utility` is then "auto" or "neg_mse". It fits no model, so it takes none."""

    method = "knn_shapley"

    def __init__(self, k: int = 10, utility: str = "auto") -> None:
        self.k = k
        self.utility = utility

    def fit(self, data: TrainingArrays, progress: ProgressCallback | None = None) -> Self:
        k = check_int("k", self.k, low=1)
        setting = check_choice("utility", self.utility, UTILITIES)
        choice = choose_utility(setting, data.train.y, data.classes, data.task)
        diagnostics: dict[str, Any] = dict(choice.diagnostics())
        if is_regression(data):
            if choice.metric != "neg_mse":
                raise InvalidParameterError(
                    "utility",
                    self.utility,
                    "'auto' or 'neg_mse': the exact kernel values squared error",
                )
            center = float(np.mean(data.train.y)) if len(data.train) else 0.0
            diagnostics["center"] = center
            values = knn_shapley_regression(
                data.train.x, data.train.y, data.valid.x, data.valid.y, k, progress, center
            )
        else:
            weights = class_weights(data.valid.y) if choice.balanced else None
            values = knn_shapley(
                data.train.x, data.train.y, data.valid.x, data.valid.y, k, progress, weights
            )
        self._result = ValuationResult.exact(
            data.train.keys,
            values,
            self.method,
            {**self.get_params(), "utility": choice.metric},
            diagnostics=diagnostics,
        )
        return self
