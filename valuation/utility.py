"""Utilities: u(S), the score on the validation rows of a proxy trained on rows S.

A utility is anything with `n` (the number of training rows), `empty` (u of the
empty set) and `__call__(indices) -> float`; the samplers need nothing more, so
tests can pass synthetic games.

`ModelUtility` trains a fresh proxy (`valuation.proxy`) on the rows S and scores
its predictions on the validation rows with `metric` (accuracy by default).

Class-balanced utilities: plain accuracy pays for every validation row alike, so
on an imbalanced label a model that ignores a rare class loses little, and a
correct row of that class looks harmful merely for being rare. Balanced accuracy,
the mean recall over the classes of the validation rows, is accuracy with each
validation row weighted by `class_weights`: w = 1 / (K * share of its class), which
average 1. `choose_utility` resolves the methods' `utility` setting ("auto",
"accuracy" or "balanced_accuracy") from the training labels and says why.

u(empty) and one-class subsets: a model cannot be trained without two classes, so
a subset whose rows share one label predicts that label everywhere, and the empty
set predicts the majority class of the *whole* training set, the best a model can
do knowing only the label prior. So u(empty) is the majority-class baseline (or
`empty_score` when given, e.g. 0 to match pyDVL's default); values then measure
what rows add beyond that baseline, and Shapley values sum to u(N) - u(empty).

Regression targets (`Task.REGRESSION`): the utility is "neg_mse", minus the mean
squared error on the validation rows, or "r2", the coefficient of determination on
them clipped below at 0. "auto" picks "neg_mse" (see `choose_utility`). The proxy
is ridge regression unless a model is given; the empty set, and a subset whose
targets are all equal or that has a single row, predicts the mean target of its
rows (the whole training set's mean for the empty set), the best a model can do
knowing only the target's level.

Utilities of subsets are cached by the sorted row indices; the cache is never
pickled, so each worker starts with an empty one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from mendb.valuation._validation import InvalidParameterError
from mendb.valuation.data import Task
from mendb.valuation.proxy import fresh_model, fresh_regressor

Metric = Callable[[NDArray[Any], NDArray[Any]], float]


class Utility(Protocol):
    """What a sampler needs from a utility."""

    @property
    def n(self) -> int: ...

    @property
    def empty(self) -> float: ...

    def __call__(self, indices: NDArray[np.int64]) -> float: ...


CLASSIFICATION_UTILITIES = ("auto", "accuracy", "balanced_accuracy")
REGRESSION_UTILITIES = ("auto", "neg_mse", "r2")
UTILITIES = (*CLASSIFICATION_UTILITIES, *REGRESSION_UTILITIES[1:])
# "auto" balances when the smallest class has fewer than half the training rows of
# the largest: from there on a model that predicts only the larger class already
# scores two thirds accuracy or more on two classes, so accuracy pays a model (and
# a valuation) for erasing the smaller one; at milder imbalance both metrics rank
# rows alike and plain accuracy keeps the papers' utility.
BALANCE_BELOW = 0.5


@dataclass(frozen=True)
class UtilityChoice:
    """The metric a run scores validation rows with, and why it was chosen."""

    metric: str
    reason: str

    @property
    def balanced(self) -> bool:
        return self.metric == "balanced_accuracy"

    def diagnostics(self) -> dict[str, str]:
        return {"utility": self.metric, "utility_reason": self.reason}


# Why "auto" scores a regression target by squared error rather than clipped R²:
# R² is the same up to the validation targets' variance, but its clipping makes
# every subset that predicts worse than the mean worth the same, so rows that make
# a bad model worse would go unpaid; and it is the utility the exact KNN kernel
# values, so the methods agree on what they measure.
REGRESSION_AUTO = UtilityChoice(
    "neg_mse",
    "auto: a regression target is scored by minus the mean squared error on the"
    " validation rows (clipped R² would make every subset worse than the mean worth"
    " the same)",
)


def choose_utility(
    setting: str,
    y_train: NDArray[Any],
    classes: tuple[str, ...] = (),
    task: Task | str = Task.CLASSIFICATION,
) -> UtilityChoice:
    """Resolve a `utility` setting for the task: for a class label "auto" looks at
    the training labels' balance; for a regression target it is "neg_mse"."""
    regression = Task(task) is Task.REGRESSION
    allowed = REGRESSION_UTILITIES if regression else CLASSIFICATION_UTILITIES
    if setting not in allowed:
        raise InvalidParameterError(
            "utility", setting, f"one of {list(allowed)} for a {Task(task)} target"
        )
    if setting != "auto":
        return UtilityChoice(setting, "chosen by the caller")
    if regression:
        return REGRESSION_AUTO
    counts = np.bincount(np.asarray(y_train, dtype=np.int64))
    present = np.flatnonzero(counts)
    if len(present) < 2:
        return UtilityChoice("accuracy", "auto: the training rows have fewer than two classes")
    smallest, largest = present[np.argmin(counts[present])], present[np.argmax(counts[present])]
    ratio = counts[smallest] / counts[largest]
    share = counts[smallest] / counts.sum()
    name = classes[smallest] if smallest < len(classes) else str(smallest)
    facts = (
        f"the smallest class ({name!s}) is {share:.0%} of the training rows,"
        f" {ratio:.0%} of the largest"
    )
    if ratio < BALANCE_BELOW:
        return UtilityChoice("balanced_accuracy", f"auto: {facts} (under {BALANCE_BELOW:.0%})")
    return UtilityChoice("accuracy", f"auto: {facts} (not under {BALANCE_BELOW:.0%})")


def class_weights(y: NDArray[np.integer]) -> NDArray[np.float64]:
    """Per-row weights 1 / (K * share of the row's class among `y`), averaging 1;
    the weighted mean of correctness is then balanced accuracy over these rows."""
    y = np.asarray(y, dtype=np.int64)
    if len(y) == 0:
        return np.zeros(0)
    counts = np.bincount(y)
    k = np.count_nonzero(counts)
    weights: NDArray[np.float64] = len(y) / (k * counts[y].astype(np.float64))
    return weights


def accuracy(y_true: NDArray[np.int64], y_pred: NDArray[np.int64]) -> float:
    return float(np.mean(y_true == y_pred)) if len(y_true) else 0.0


def balanced_accuracy(y_true: NDArray[np.int64], y_pred: NDArray[np.int64]) -> float:
    """Mean recall over the classes present in `y_true`."""
    if len(y_true) == 0:
        return 0.0
    return float(np.mean(class_weights(y_true) * (y_true == y_pred)))


def neg_mse(y_true: NDArray[np.float64], y_pred: NDArray[np.float64]) -> float:
    """Minus the mean squared error."""
    if len(y_true) == 0:
        return 0.0
    return -float(np.mean(np.square(np.asarray(y_true, np.float64) - y_pred)))


def clipped_r2(y_true: NDArray[np.float64], y_pred: NDArray[np.float64]) -> float:
    """1 - SSE / SST over `y_true`, clipped below at 0 (a constant `y_true` scores 1
    when predicted exactly, else 0)."""
    y = np.asarray(y_true, np.float64)
    if len(y) == 0:
        return 0.0
    sse = float(np.sum(np.square(y - y_pred)))
    sst = float(np.sum(np.square(y - y.mean())))
    if sst == 0.0:
        return 1.0 if sse == 0.0 else 0.0
    return max(0.0, 1.0 - sse / sst)


METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "neg_mse": neg_mse,
    "r2": clipped_r2,
}


class ModelUtility:
    """u(S) = metric(y_valid, model fitted on (x_train[S], y_train[S]) predicting x_valid).

    With `regression=True` the targets are floats, the default model is ridge
    regression and a subset of one row or of equal targets predicts its mean."""

    def __init__(
        self,
        x_train: NDArray[np.floating],
        y_train: NDArray[Any],
        x_valid: NDArray[np.floating],
        y_valid: NDArray[Any],
        model: Any = None,
        metric: Metric = accuracy,
        empty_score: float | None = None,
        cache_size: int = 1 << 16,
        regression: bool = False,
    ) -> None:
        label = np.float64 if regression else np.int64
        self.x_train = np.ascontiguousarray(x_train, dtype=np.float64)
        self.y_train = np.asarray(y_train, dtype=label)
        self.x_valid = np.ascontiguousarray(x_valid, dtype=np.float64)
        self.y_valid = np.asarray(y_valid, dtype=label)
        self.model = model
        self.metric = metric
        self.regression = regression
        self.cache_size = cache_size
        self.evaluations = 0
        self._cache: dict[bytes, float] = {}
        if empty_score is None and regression:
            empty_score = self._constant(float(self.y_train.mean()) if self.n else 0.0)
        elif empty_score is None:
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
        if self.regression:
            if len(y) == 1 or np.all(y == y[0]):
                return self._constant(float(y.mean()))
            model = fresh_regressor(self.model).fit(self.x_train[idx], y)
            predicted = np.asarray(model.predict(self.x_valid), dtype=np.float64).reshape(-1)
            return float(self.metric(self.y_valid, predicted))
        if np.all(y == y[0]):
            return self._constant(int(y[0]))
        model = fresh_model(self.model).fit(self.x_train[idx], y)
        return float(self.metric(self.y_valid, np.asarray(model.predict(self.x_valid))))

    def _constant(self, label: float) -> float:
        return float(self.metric(self.y_valid, np.full(len(self.y_valid), label)))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state
