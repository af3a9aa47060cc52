"""Exact KNN-Shapley for the unweighted K-nearest-neighbour regressor (Jia et al.,
"Efficient task-specific data valuation for nearest neighbor algorithms", VLDB
2019, the regression theorem), derived here and checked against the enumeration of
every subset in tests/unit/valuation/test_knn_regression.py.

The utility. For one validation row with target t, sort the N training rows by
distance, nearest first (alpha_1 ... alpha_N), and let c be the mean training
target. With a_i = (y_alpha_i - c) / K and b = t - c,

    u(S) = -(c + (1/K) sum over the min(K, |S|) nearest rows of S of (y - c) - t)^2
         = -(sum over those rows of a_i - b)^2,

minus the squared error of the K-NN mean prediction in which a missing neighbour
(a subset of fewer than K rows) counts as the mean target c; u(empty) is the
squared error of predicting c, so the values of all rows sum to how much the K-NN
regressor lowers the squared error below that of the mean. (The paper's utility is
the same with c = 0; centring changes only the subsets of fewer than K rows, which
would otherwise predict towards 0 whatever the target's level.) Averaged over
validation rows this is minus the validation MSE.

The recursion. For adjacent rows alpha_i, alpha_{i+1} and a subset S of the other
N - 2, S + alpha_i and S + alpha_{i+1} have the same K nearest apart from the one
swapped, so with D(S) the sum of a over the other K-nearest rows,

    u(S + i) - u(S + (i+1)) = (a_{i+1} - a_i) (a_i + a_{i+1} - 2 b + 2 D(S))

whenever the swapped row is among them (fewer than K rows of S nearer than i).
Averaging over subsets with Shapley's weights (a subset size uniform on 0..N-2,
then a uniform subset) gives, with i 1-based,

    s_i - s_{i+1} = (a_{i+1} - a_i) [ (a_i + a_{i+1} - 2 b) min(K, i) / i
                                      + 2 g(i - 2) sum_{j < i} a_j
                                      + 2 sum_{j > i+1} g(j - 3) a_j ],
    s_N = -a_N [ (a_N - 2 b) min(K, N) / N + 2 g(N - 2) sum_{j < N} a_j ],

where g(q) = m (m + 1) / (2 (q + 1) (q + 2)), m = min(K - 1, q + 1), is the
probability that a given row is in the subset and at most K - 2 of q given others
are (place a marker uniformly among the q + 2 rows: the rows before it are the
subset). Both sums are cumulative sums along the sorted rows, so the kernel is the
classification kernel's (`knn_shapley`): one distance product and sort per batch of
validation rows, a few cumulative sums, and one `bincount` that adds every
validation row's -C into the rows' totals (s_i = s_N + T - C_{i-1}, C the
cumulative sum of the differences and T its total). Ties are ordered by row index.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.base import ProgressCallback
from mendb.valuation.methods._neighbours import WORKING_SET, Neighbours, batched_mean

_WORKING_SET = WORKING_SET  # elements of one (batch x N) array (tests shrink it)


def pair_probability(q: NDArray[np.float64] | float, k: int) -> NDArray[np.float64]:
    """g(q): the probability, over Shapley's subsets of q + 1 rows, that one given row
    is in the subset and at most K - 2 of the q others are (module doc); q >= 0."""
    q = np.asarray(q, dtype=np.float64)
    m = np.minimum(k - 1, q + 1)
    probability: NDArray[np.float64] = m * (m + 1) / (2.0 * (q + 1) * (q + 2))
    return probability


# Deliberately like knn_shapley.py:knn_shapley, proxy.py:_loss and ts_shapley.py:
# _fill_unsampled in shape: every kernel takes its arrays first, by the same names.
def knn_shapley_regression(
    x_train: NDArray[np.floating],
    y_train: NDArray[np.floating],
    x_valid: NDArray[np.floating],
    y_valid: NDArray[np.floating],
    k: int,
    progress: ProgressCallback | None = None,
    center: float | None = None,
) -> NDArray[np.float64]:
    """Exact KNN-Shapley value of every training row for minus the squared error of
    the K-NN regressor, averaged over validation rows; missing neighbours count as
    `center` (the mean training target when None)."""
    n = len(x_train)
    if n == 0:
        return np.zeros(0)
    y = np.asarray(y_train, dtype=np.float64)
    c = float(y.mean()) if center is None else float(center)
    kernel = _RegressionKernel(x_train, y - c, k)
    targets = np.asarray(y_valid, dtype=np.float64) - c
    return batched_mean(kernel, n, x_valid, (targets,), progress, _WORKING_SET)


class _RegressionKernel(Neighbours):
    """The training side: rows, centred targets / K, and the per-position weights."""

    def __init__(
        self, x_train: NDArray[np.floating], y_centred: NDArray[np.float64], k: int
    ) -> None:
        super().__init__(x_train)
        n = len(y_centred)
        self.a = np.asarray(y_centred, dtype=np.float64) / k
        i = np.arange(1, n, dtype=np.float64)  # positions i = 1 .. N-1 of the differences
        self.share = np.minimum(k, i) / i  # min(K, i) / i
        # 2 g(i - 2) for the rows before i (position 1 has none); 2 g(j - 3) for rows j >= 3.
        self.before = 2.0 * pair_probability(np.maximum(i - 2, 0), k) * (i >= 2)
        j = np.arange(1, n + 1, dtype=np.float64)
        self.after = 2.0 * pair_probability(np.maximum(j - 3, 0), k) * (j >= 3)
        self.last_share = min(k, n) / n
        self.last_pair = float(pair_probability(n - 2, k)) if n > 1 else 0.0

    def __call__(self, xb: NDArray[np.float64], tb: NDArray[np.float64]) -> NDArray[np.float64]:
        """The sum over the batch's validation rows (centred targets `tb`) of every
        training row's value."""
        # Four (batch x N) buffers, mostly reused in place: each step is one pass over memory.
        n = len(self.a)
        order = self.order(xb)
        a = self.a[order]
        twice_b = 2.0 * tb
        prefix = np.cumsum(a, axis=1)  # sum_{j <= i} a_j
        last = a[:, -1]
        s_last = -last * (
            (last - twice_b) * self.last_share + 2.0 * self.last_pair * (prefix[:, -1] - last)
        )
        if n == 1:
            values: NDArray[np.float64] = np.full(1, s_last.sum())
            return values
        # inner_i = 2 g(i-2) sum_{j<i} a_j + 2 sum_{j>i+1} g(j-3) a_j, in `inner` (0-based
        # position i-1): the weighted suffix is the total less the cumulative sum to i+1.
        weighted = a * self.after
        np.cumsum(weighted, axis=1, out=weighted)
        inner = weighted[:, 1:]
        np.subtract(weighted[:, -1:], inner, out=inner)
        before = prefix[:, :-2]  # sum_{j < i} a_j for positions i = 2 .. N-1
        before *= self.before[1:]
        inner[:, 1:] += before
        # bracket_i = (a_i + a_{i+1} - 2b) min(K, i)/i + inner_i, in `bracket`.
        bracket = prefix[:, :-1]
        np.add(a[:, :-1], a[:, 1:], out=bracket)
        bracket -= twice_b[:, None]
        bracket *= self.share
        bracket += inner
        # d_i = (a_{i+1} - a_i) bracket_i, then C = cumulative d, in a contiguous array
        # (a cumulative sum into a strided view, and its ravel, each cost a copy).
        cumulative = np.subtract(a[:, 1:], a[:, :-1])
        cumulative *= bracket
        np.cumsum(cumulative, axis=1, out=cumulative)
        constant = cumulative[:, -1].sum() + s_last.sum()
        # Position i (0-based) gets s_N + T - C_{i-1}; position 0 gets s_N + T.
        spread = np.bincount(order[:, 1:].ravel(), cumulative.ravel(), minlength=n)
        values = constant - spread
        return values
