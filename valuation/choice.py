"""The valuation method mendb uses when the user names none (`--method auto`).

The rule follows the detection benchmark on real tables (docs/BENCHMARKS.md,
"Detection on real tables"). On tabular rows no single method found every kind of
label noise: Data-OOB over logistic bags finds flips near the boundary, gradient
influence (LESS) finds under-reported labels on imbalanced tables, and KNN-Shapley
finds flips among well-separated classes. Their mean rank (`valuation.consensus`)
stays near the best of its parts in every cell, so the default is a consensus: of
Data-OOB and influence where the label is imbalanced, of KNN-Shapley and Data-OOB
where it is balanced. Every part runs with the plain accuracy utility: balancing
pays rows for carrying the rare label, which hides the majority rows recorded as
the minority.

Embeddings (vector or text columns) keep exact KNN-Shapley in the embedding space;
past `CONSENSUS_ROWS` training rows a bagged or trained proxy takes minutes, so
exact KNN-Shapley runs alone; past `TS_ROWS` only transferred Shapley on sampled
subsets scales.

A regression target (`task="regression"`) has no classes to balance: on tabular
rows up to `CONSENSUS_ROWS` the default is Data-OOB over Huber-regression bags
scored by squared error (the regression benchmark, docs/BENCHMARKS.md,
"Regression"). A least-squares learner in a bag chases the wrong targets it was
fitted on, a slipped decimal point most of all, and then predicts them back less
wrong; Huber's loss is linear past a few robust scales, so the bags' fit follows
the clean rows and a wrong target keeps its large out-of-bag residual. It found
heavy-tailed noise and slipped zeros better than ridge bags and other rows' values
about as well, led KNN-Shapley on heavy-tailed noise and other rows' values, and
matched it on a slipped zero. A mean rank with KNN-Shapley was
measured too and was dropped: KNN-Shapley barely sees heavy-tailed noise, and
averaging ranks pulled the pair below Huber's bags there. Embeddings and larger
tables take the exact KNN-Shapley regression kernel, which also finds a slipped
decimal point among neighbours and is fast at any size up to `TS_ROWS`; past that,
transferred Shapley with its ridge proxy, as for a label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.data import Task

TS_ROWS = 200_000
CONSENSUS_ROWS = 50_000
# A label counts as imbalanced below this ratio of smallest to largest class, the
# threshold `valuation.utility.choose_utility` uses for its "auto" utility.
IMBALANCED_BELOW = 0.5
EMBEDDINGS = frozenset({"vector", "text"})


@dataclass(frozen=True)
class MethodChoice:
    """A method by its registry name, the parameters to run it with, and why.

    For `method == "consensus"`, `parts` are the runs to make first (each a method
    and its parameters) and `params["methods"]` names them for the consensus."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    parts: tuple[MethodChoice, ...] = ()


KNN = MethodChoice("knn_shapley", {"k": 10, "utility": "accuracy"})
DATA_OOB = MethodChoice(
    "data_oob",
    {"model": "logistic", "score": "probability", "n_estimators": 50, "utility": "accuracy"},
)
INFLUENCE = MethodChoice("influence_adam", {})
KNN_REGRESSION = MethodChoice("knn_shapley", {"k": 10, "utility": "auto"})
# scikit-learn is among the model modules allowed by default (`valuation.models`).
HUBER = "sklearn.linear_model:HuberRegressor"
DATA_OOB_REGRESSION = MethodChoice(
    "data_oob", {"model": HUBER, "n_estimators": 100, "utility": "auto"}
)


def class_balance(class_counts: NDArray[np.integer]) -> float:
    """Rows of the smallest class per row of the largest, over the classes present."""
    counts = np.asarray(class_counts, dtype=np.int64)
    present = counts[counts > 0]
    if len(present) < 2:
        return 1.0
    return float(present.min() / present.max())


def _consensus(parts: tuple[MethodChoice, ...], reason: str) -> MethodChoice:
    return MethodChoice("consensus", {"methods": [p.method for p in parts]}, reason, parts)


def choose_method(
    n_train: int,
    kinds: set[str],
    class_counts: NDArray[np.integer],
    task: Task | str = Task.CLASSIFICATION,
) -> MethodChoice:
    """The default method for `n_train` training rows whose features are of `kinds`
    ("numeric", "categorical", "vector", "text") and whose labels have
    `class_counts` rows per class (ignored for a regression `task`; see the module
    doc)."""
    if Task(task) is Task.REGRESSION:
        return _regression(n_train, kinds)
    if n_train > TS_ROWS:
        return MethodChoice(
            "ts_shapley",
            {},
            f"{n_train:,} training rows: transferred Shapley on sampled subsets scales to"
            " millions of rows",
        )
    if kinds & EMBEDDINGS:
        return MethodChoice(
            KNN.method,
            KNN.params,
            "vector or text features: exact KNN-Shapley in the embedding space is the"
            " fastest exact method and catches label errors among neighbours",
        )
    if n_train > CONSENSUS_ROWS:
        return MethodChoice(
            KNN.method,
            KNN.params,
            f"{n_train:,} tabular rows, more than bagged or trained proxies value in"
            " minutes: exact KNN-Shapley is fast at this size",
        )
    balance = class_balance(class_counts)
    if balance < IMBALANCED_BELOW:
        return _consensus(
            (DATA_OOB, INFLUENCE),
            f"imbalanced label (smallest class {balance:.0%} of the largest) on"
            f" {n_train:,} tabular rows: the mean rank of Data-OOB, which finds flips near"
            " the boundary, and gradient influence, which finds under-reported labels,"
            " came closest to the best method on every real imbalanced table measured",
        )
    return _consensus(
        (KNN, DATA_OOB),
        f"{n_train:,} tabular rows with balanced classes: the mean rank of KNN-Shapley"
        " and Data-OOB came closest to the best method in every kind of label noise"
        " measured",
    )


def _regression(n_train: int, kinds: set[str]) -> MethodChoice:
    if n_train > TS_ROWS:
        return MethodChoice(
            "ts_shapley",
            {"utility": "auto"},
            f"{n_train:,} training rows of a regression target: transferred Shapley with a"
            " ridge proxy on sampled subsets scales to millions of rows",
        )
    if kinds & EMBEDDINGS or n_train > CONSENSUS_ROWS:
        why = (
            "vector or text features"
            if kinds & EMBEDDINGS
            else f"{n_train:,} tabular rows, more than bagged models value in minutes"
        )
        return MethodChoice(
            KNN_REGRESSION.method,
            KNN_REGRESSION.params,
            f"{why}: exact KNN-Shapley for the K-NN regressor's squared error is fast at"
            " this size and finds targets far from those of their neighbours",
        )
    return MethodChoice(
        DATA_OOB_REGRESSION.method,
        DATA_OOB_REGRESSION.params,
        f"{n_train:,} tabular rows of a regression target: Data-OOB over Huber-regression"
        " bags, scored by each row's out-of-bag squared error, catches targets that"
        " disagree with a robust model of the other rows, which wrong targets barely"
        " pull towards themselves",
    )
