"""Utilities: u(S), the score on the validation rows of a proxy trained on rows S.

A utility is anything with `n` (the number of training rows), `empty` (u of the
empty set) and `__call__(indices) -> float`; the samplers need nothing more, so
tests can pass synthetic games.

`ModelUtility` trains a fresh proxy (`valuation.proxy`) on the rows S and scores
its predictions on the validation rows with `metric` (accuracy by default).

u(empty) and one-class subsets: a model cannot be trained without two classes, so
a subset whose rows share one label predicts that label everywhere, and the empty
set predicts the majority class of the *whole* training set, the best a model can
do knowing only the label prior. So u(empty) is the majority-class baseline (or
`empty_score` when given, e.g. 0 to match pyDVL's default); values then measure
what rows add beyond that baseline, and Shapley values sum to u(N) - u(empty).

Utilities of subsets are cached by the sorted row indices; the cache is never
pickled, so each worker starts with an empty one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from valuation.proxy import fresh_model

Metric = Callable[[NDArray[np.int64], NDArray[np.int64]], float]


class Utility(Protocol):
    """What a sampler needs from a utility."""

    @property
    def n(self) -> int: ...

    @property
    def empty(self) -> float: ...

    def __call__(self, indices: NDArray[np.int64]) -> float: ...


def accuracy(y_true: NDArray[np.int64], y_pred: NDArray[np.int64]) -> float:
    return float(np.mean(y_true == y_pred)) if len(y_true) else 0.0


class ModelUtility:
    """u(S) = metric(y_valid, model fitted on (x_train[S], y_train[S]) predicting x_valid)."""

    def __init__(
        self,
        x_train: NDArray[np.floating],
        y_train: NDArray[np.integer],
        x_valid: NDArray[np.floating],
        y_valid: NDArray[np.integer],
        model: Any = None,
        metric: Metric = accuracy,
        empty_score: float | None = None,
        cache_size: int = 1 << 16,
    ) -> None:
        self.x_train = np.ascontiguousarray(x_train, dtype=np.float64)
        self.y_train = np.asarray(y_train, dtype=np.int64)
        self.x_valid = np.ascontiguousarray(x_valid, dtype=np.float64)
        self.y_valid = np.asarray(y_valid, dtype=np.int64)
        self.model = model
        self.metric = metric
        self.cache_size = cache_size
        self.evaluations = 0
        self._cache: dict[bytes, float] = {}
        if empty_score is None:
            counts = np.bincount(self.y_train) if len(self.y_train) else np.zeros(1, int)
            empty_score = self._constant(int(np.argmax(counts)))
        self._empty = float(empty_score)

    @property
    def n(self) -> int:
        return len(self.y_train)

    @property
    def empty(self) -> float:
        return self._empty

    def __call__(self, indices: NDArray[np.int64]) -> float:
        idx = np.sort(np.asarray(indices, dtype=np.int64))
        key = idx.tobytes()
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        score = self._score(idx)
        if len(self._cache) < self.cache_size:
            self._cache[key] = score
        return score

    def _score(self, idx: NDArray[np.int64]) -> float:
        if len(idx) == 0:
            return self._empty
        self.evaluations += 1
        y = self.y_train[idx]
        if np.all(y == y[0]):
            return self._constant(int(y[0]))
        model = fresh_model(self.model).fit(self.x_train[idx], y)
        return float(self.metric(self.y_valid, np.asarray(model.predict(self.x_valid))))

    def _constant(self, label: int) -> float:
        return float(self.metric(self.y_valid, np.full(len(self.y_valid), label)))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state
