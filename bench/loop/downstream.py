"""The models a user would train on the repaired rows, scored on the sealed test
rows: the loop's own logistic regression, gradient-boosted trees and a small
neural network, each by accuracy, balanced accuracy, macro-F1 and log-loss."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.data import TrainingArrays
from mendb.valuation.preprocess import prepare

MODELS = ("logistic", "boosting", "mlp")
# Higher is better for every metric but log-loss.
METRICS = {"balanced_accuracy": True, "log_loss": False, "accuracy": True, "macro_f1": True}


def _model(name: str, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    makers: dict[str, Callable[[], Any]] = {
        "logistic": lambda: LogisticRegression(max_iter=2000, random_state=seed),
        # Fewer, larger steps than the defaults: with ten classes a fit grows ten trees
        # per iteration, and each cell fits six training sets.
        "boosting": lambda: HistGradientBoostingClassifier(
            max_iter=30, learning_rate=0.2, max_leaf_nodes=15, random_state=seed
        ),
        # Full-batch L-BFGS with weight decay: on a few thousand rows it trains in a
        # fraction of Adam's time, without an unregularised fit's overconfidence.
        "mlp": lambda: MLPClassifier(
            (32,), solver="lbfgs", alpha=1.0, max_iter=300, random_state=seed
        ),
    }
    return makers[name]()


def _full_proba(model: Any, x: NDArray[np.float64], n_classes: int) -> NDArray[np.float64]:
    """Probabilities over every class, a class absent from training getting 0."""
    proba = np.zeros((len(x), n_classes))
    proba[:, model.classes_] = model.predict_proba(x)
    return proba


def scores(y: NDArray[np.int64], proba: NDArray[np.float64]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, log_loss

    labels = list(range(proba.shape[1]))
    predicted = proba.argmax(axis=1)
    clipped = np.clip(proba, 1e-15, 1.0)
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
        "log_loss": float(log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=labels)),
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
    }


def evaluate(raw: TrainingArrays, seed: int) -> dict[str, dict[str, float]]:
    """Every model trained on the (prepared) training rows, scored on the test rows."""
    data = prepare(raw)
    out: dict[str, dict[str, float]] = {}
    present = np.unique(data.train.y)
    for name in MODELS:
        if len(present) == 1:
            # Repairs that erased every other class leave a model that can only say
            # this one, with certainty: that is what a user would get.
            proba = np.zeros((len(data.test), raw.n_classes))
            proba[:, present[0]] = 1.0
            out[name] = scores(data.test.y, proba)
            continue
        model = _model(name, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data.train.x, data.train.y)
        out[name] = scores(data.test.y, _full_proba(model, data.test.x, raw.n_classes))
    return out


def with_labels(raw: TrainingArrays, y: NDArray[np.int64]) -> TrainingArrays:
    return replace(raw, train=replace(raw.train, y=y))
