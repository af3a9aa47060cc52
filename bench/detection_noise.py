"""Splits and realistic label noise for the detection benchmark.

A table is split 60 / 20 / 20 (seeded) and prepared by `valuation.preprocess.prepare`
before any label changes (preparation reads features only); the noise then goes
into the training labels, and validation and test stay clean, so a method is judged
on what it finds among the training rows.

Noises (`NOISES`):
- `symmetric10`: 10 % of the training rows get another class, uniformly: the easy case.
- `under40`: 40 % of the rows of the smallest class are recorded as the largest class,
  never the reverse (under-reporting).
- `pairs`: confused pairs; digits 1 <-> 7 and 3 <-> 8, another multi-class table the
  pair of classes a logistic model confuses most; 30 % of each paired class's rows
  take the other label. A binary table has one pair, where this is `boundary10`
  with a different rate, so it is not run there.
- `boundary10`: the 10 % of training rows nearest the decision boundary of a
  logistic regression fitted on the clean training rows (smallest gap, either way,
  between the probability of their class and of the best other) take that other class:
  instance-dependent noise, the kind an annotator makes on hard rows.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from bench.data import Table, _split
from mendb.valuation.data import TrainingArrays
from mendb.valuation.preprocess import prepare

NOISES = ("symmetric10", "under40", "pairs", "boundary10")
PAIR_RATE = 0.3
KNOWN_PAIRS = {"digits": ((1, 7), (3, 8))}


def applies(noise: str, table: Table) -> bool:
    return noise != "pairs" or len(table.classes) > 2


def clean_cell(table: Table, seed: int) -> TrainingArrays:
    """The prepared 60 / 20 / 20 split of the table, labels as the table has them."""
    rng = np.random.default_rng(seed)
    n = len(table.y)
    order = rng.permutation(n)
    n_train, n_valid = int(0.6 * n), int(0.2 * n)
    train, valid, test = np.split(order, [n_train, n_train + n_valid])
    raw = TrainingArrays(
        train=_split(table, train, table.x, table.y),
        valid=_split(table, valid, table.x, table.y),
        test=_split(table, test, table.x, table.y),
        classes=table.classes,
        feature_names=table.feature_names,
        feature_kinds=table.feature_kinds,
        categories=table.categories,
    )
    return prepare(raw)


def noisy_cell(table: Table, noise: str, seed: int) -> tuple[TrainingArrays, NDArray[np.bool_]]:
    """The prepared cell with `noise` in its training labels, and which rows changed."""
    data = clean_cell(table, seed)
    rng = np.random.default_rng([seed, NOISES.index(noise)])
    y = plant(noise, data.train.x, data.train.y, data.n_classes, table.name, rng)
    return replace(data, train=replace(data.train, y=y)), y != data.train.y


def plant(
    noise: str,
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    n_classes: int,
    table: str,
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """The recorded labels: `y` with the noise put in (see the module doc)."""
    out = y.copy()
    if noise == "symmetric10":
        rows = rng.choice(len(y), size=round(0.1 * len(y)), replace=False)
        out[rows] = (y[rows] + rng.integers(1, n_classes, size=len(rows))) % n_classes
    elif noise == "under40":
        counts = np.bincount(y, minlength=n_classes)
        minority, majority = int(np.argmin(counts)), int(np.argmax(counts))
        members = np.flatnonzero(y == minority)
        rows = rng.choice(members, size=round(0.4 * len(members)), replace=False)
        out[rows] = majority
    elif noise == "pairs":
        for a, b in KNOWN_PAIRS.get(table, (_most_confused(x, y, n_classes),)):
            for source, target in ((a, b), (b, a)):
                members = np.flatnonzero(y == source)
                rows = rng.choice(members, size=round(PAIR_RATE * len(members)), replace=False)
                out[rows] = target
    elif noise == "boundary10":
        probabilities = _clean_fit(x, y).predict_proba(x)
        own = probabilities[np.arange(len(y)), y]
        others = probabilities.copy()
        others[np.arange(len(y)), y] = -1.0
        rows = np.argsort(np.abs(own - others.max(axis=1)), kind="stable")[: round(0.1 * len(y))]
        out[rows] = others[rows].argmax(axis=1)
    else:
        raise ValueError(f"unknown noise {noise!r}; one of {NOISES}")
    return out


def _clean_fit(x: NDArray[np.float64], y: NDArray[np.int64]) -> LogisticRegression:
    return LogisticRegression(max_iter=2000).fit(x, y)


def _most_confused(x: NDArray[np.float64], y: NDArray[np.int64], n_classes: int) -> tuple[int, int]:
    """The pair of classes with the most probability mass a clean fit moves between them."""
    probabilities = _clean_fit(x, y).predict_proba(x)
    mass = np.zeros((n_classes, n_classes))
    np.add.at(mass, y, probabilities)
    mutual = mass + mass.T
    np.fill_diagonal(mutual, -1.0)
    a, b = np.unravel_index(int(np.argmax(mutual)), mutual.shape)
    return int(min(a, b)), int(max(a, b))
