"""The user's stored out-of-fold predictions (`--predictions COLUMN`), checked
against the catalog before anything runs, then against the values read.

- A regression dataset's predictions are a numeric column of predicted targets.
- A classification dataset with a binary label takes a numeric column holding the
  probability of its second class, in the order of `TrainingArrays.classes` (the
  text order of the labels); the read turns it into (n, 2) class probabilities.
- Class probabilities of more than two classes (a float8[] or vector column) are
  refused by name (`UnsupportedPredictions`): mendb does not read them yet.

Every training row needs a finite prediction (a probability within [0, 1]); the
first row without one is named. Rows outside the training split may hold nulls.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

from mendb.db.catalog import resolve_columns
from mendb.db.datasets import Dataset
from mendb.db.errors import InvalidDataset
from mendb.db.queries import query
from mendb.valuation.task import Task


class UnsupportedPredictions(InvalidDataset):
    """A predictions column mendb cannot read as the dataset's predictions."""


def check_predictions(conn: psycopg.Connection[Any], dataset: Dataset, column: str) -> None:
    """Everything that can be checked before a run starts: the column exists in the
    training table, has a type mendb reads, and fits the dataset's task (a binary
    label, for a classification dataset)."""
    check_column(conn, dataset, column)
    if dataset.task is Task.CLASSIFICATION:
        statement = query("read_predictions_label_levels").format(
            label=sql.Identifier(dataset.label), table=dataset.table.identifier
        )
        found = conn.execute(statement).fetchone()
        _require_binary(dataset, column, int(found[0]) if found else 0)


def check_column(conn: psycopg.Connection[Any], dataset: Dataset, column: str) -> None:
    """The column exists in the training table, is not the key or the label, and
    is numeric."""
    (info,) = resolve_columns(conn, dataset.table, [column])
    where = {"table": str(dataset.table), "column": column}
    if column in (dataset.key, dataset.label):
        raise InvalidDataset(
            f"column {column!r} of {dataset.table} is the dataset's key or label, not its"
            " stored predictions",
            **where,
        )
    if info.kind == "numeric":
        return
    if info.kind == "vector" or info.type_name.endswith("[]"):
        raise UnsupportedPredictions(
            f"predictions column {column!r} of {dataset.table} ({info.type_name}) holds"
            " class probabilities, which mendb does not read yet; for a binary label give"
            " a numeric column of the probability of the second class",
            **where,
        )
    need = "predicted targets" if dataset.task is Task.REGRESSION else "class probabilities"
    raise UnsupportedPredictions(
        f"predictions column {column!r} of {dataset.table} has type {info.type_name};"
        f" stored predictions must be numeric ({need})",
        **where,
    )


def check_values(
    dataset: Dataset,
    column: str,
    keys: NDArray[np.object_],
    values: NDArray[np.float64],
    classes: tuple[str, ...],
) -> None:
    """Every training row has a finite prediction, a probability for a classifier,
    and a classifier's label is binary; the first row at fault is named."""
    where = {"table": str(dataset.table), "column": column}
    if dataset.task is Task.CLASSIFICATION:
        _require_binary(dataset, column, len(classes))
        bad = ~((values >= 0) & (values <= 1))  # NaN fails both
        need = "a probability between 0 and 1"
    else:
        bad = ~np.isfinite(values)
        need = "a finite number"
    if bad.any():
        at = int(np.argmax(bad))
        shown = "null" if np.isnan(values[at]) else repr(float(values[at]))
        raise InvalidDataset(
            f"predictions column {column!r} of {dataset.table} is {shown} in training row"
            f" {keys[at]!r}; every training row needs {need}",
            row=str(keys[at]),
            **where,
        )


def as_probabilities(positive: NDArray[np.float64]) -> NDArray[np.float64]:
    """A binary label's stored probability of its second class as (n, 2) class
    probabilities."""
    return np.column_stack([1.0 - positive, positive])


def _require_binary(dataset: Dataset, column: str, levels: int) -> None:
    if levels != 2:
        raise UnsupportedPredictions(
            f"predictions column {column!r} of {dataset.table}: a numeric column of stored"
            f" predictions is the probability of the second class of a binary label, and"
            f" label {dataset.label!r} has {levels} classes; class probabilities of more"
            " classes are not read yet",
            table=str(dataset.table),
            column=column,
        )
