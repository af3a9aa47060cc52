"""Train the downstream model and measure it: the utility a round tries to raise."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from mendb.valuation.data import Split


def train_logistic(train: Split, seed: int = 0) -> LogisticRegression | None:
    """The downstream model fitted on the (prepared) training split; None when the
    split holds a single class, where there is nothing to fit."""
    if len(np.unique(train.y)) < 2:
        return None
    model = LogisticRegression(max_iter=2000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train.x, train.y)
    return model


def fit_predict(train: Split, test: Split, seed: int = 0) -> NDArray[np.int64]:
    """Logistic regression on the (prepared) training split, labels for `test`."""
    model = train_logistic(train, seed)
    if model is None:
        return np.full(len(test), train.y[0])
    predicted: NDArray[np.int64] = model.predict(test.x)
    return predicted


def accuracy(train: Split, test: Split, seed: int = 0) -> float:
    if len(test) == 0:
        return float("nan")
    return float(np.mean(fit_predict(train, test, seed) == test.y))
