"""What the exact KNN-Shapley kernels share: the training rows ordered by distance
to each validation row, and the batched, threaded loop over validation rows.

Batches are sized so the (batch x N) working set stays bounded whatever N is, run
on a few threads (numpy releases the GIL in the product and the sort), and are
summed in batch order, so the values do not depend on the number of threads.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.base import ProgressCallback

WORKING_SET = 1 << 22  # elements of one (batch x N) array: 32 MB in float64
MAX_THREADS = 8  # each thread holds about five (batch x N) arrays


BatchKernel = Callable[..., NDArray[np.float64]]
"""kernel(x_batch, *per_row_batches) -> the sum over the batch of every training row's value."""


def batched_mean(
    kernel: BatchKernel,
    n: int,
    x_valid: NDArray[np.floating],
    per_row: tuple[NDArray[Any] | None, ...],
    progress: ProgressCallback | None = None,
    working_set: int = WORKING_SET,
    max_threads: int = MAX_THREADS,
) -> NDArray[np.float64]:
    """The mean over validation rows of `kernel`'s per-batch sums over `n` training
    rows, the batches sized to the working set, run on a few threads and summed in
    batch order. `per_row` holds arrays with one entry per validation row (None: not
    given), sliced with the batch; a batch holds about `working_set` // n rows."""
    xv = np.ascontiguousarray(x_valid, dtype=np.float64)
    batch = max(1, working_set // n)
    starts = range(0, len(xv), batch)
    totals = np.zeros(n)
    threads = min(max_threads, len(os.sched_getaffinity(0)), len(starts))
    with ThreadPoolExecutor(max(threads, 1)) as pool:
        pending: deque[tuple[int, Future[NDArray[np.float64]]]] = deque()
        todo = iter(starts)
        while True:
            while len(pending) < 2 * threads and (start := next(todo, None)) is not None:
                xb = xv[start : start + batch]
                parts = [None if a is None else a[start : start + batch] for a in per_row]
                pending.append((start + len(xb), pool.submit(kernel, xb, *parts)))
            if not pending:
                break
            done, future = pending.popleft()
            totals += future.result()  # in batch order: deterministic
            if progress is not None:
                progress(min(1.0, done / len(xv)))
    return totals / max(len(xv), 1)


class Neighbours:
    """The training rows and their squared norms, which order them by distance."""

    def __init__(self, x_train: NDArray[np.floating]) -> None:
        self.x = np.ascontiguousarray(x_train, dtype=np.float64)
        self.sq = np.einsum("ij,ij->i", self.x, self.x)

    def order(self, xb: NDArray[np.float64]) -> NDArray[np.intp]:
        """Training rows by distance to each validation row; ties by row index."""
        # Squared distances up to the per-row constant |x_valid|^2, which does not
        # change the order.
        dist = xb @ self.x.T
        dist *= -2.0
        dist += self.sq
        order = np.argsort(dist, axis=1)
        ordered = np.take_along_axis(dist, order, axis=1)
        tied = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if tied.any():
            order[tied] = np.argsort(dist[tied], axis=1, kind="stable")
        return order
