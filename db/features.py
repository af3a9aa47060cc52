"""Which columns of a table a dataset reads as features, and as which kind.

A registration names its features or takes every usable column; each column's
kind comes from its type in the catalog (`db.catalog`), and a text column's from
its data too: few, short values make it categorical. A vector column needs one
dimension throughout, and a vector derived from a text column names that column.

The label's task comes from `--task`, or from its type and data (`label_task`):
- a text, boolean or enum label is a class (classification);
- an integer label with at most CLASSIFICATION_MAX_LEVELS (20) distinct values is a
  class;
- a numeric label (integer, numeric, real, double precision) with at least
  REGRESSION_MIN_LEVELS (50) distinct values, or with more than
  CLASSIFICATION_MAX_LEVELS distinct values that are at least REGRESSION_MIN_SHARE
  (half) of its rows, is a number to predict (regression);
- anything in between (a float with a few values, an integer with 21 to 49 values
  in a large table) is refused with `AmbiguousTask`, which says what was seen and
  asks for `--task`.
A regression target must be a numeric column (`NonNumericTarget` otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from mendb.db.catalog import (
    ColumnInfo,
    TableRef,
    integer_columns,
    resolve_columns,
    table_columns,
)
from mendb.db.errors import InvalidDataset
from mendb.db.queries import query
from mendb.valuation.task import Task

# A text column is treated as categorical when it has at most this many distinct
# values and its values are short; otherwise it is free text.
CATEGORICAL_MAX_LEVELS = 50
CATEGORICAL_MAX_LENGTH = 40
FEATURE_KINDS = ("numeric", "categorical", "vector", "text")
# The column kinds each declared feature kind can be read from: the reader casts a
# numeric feature to float8, compares categorical ones as text, and takes vectors and
# text as they are.
COLUMN_KINDS = {
    "numeric": ("numeric",),
    "categorical": ("numeric", "categorical", "text"),
    "vector": ("vector",),
    "text": ("text",),
}


# How many distinct values make a label a class or a number to predict, when the
# registration does not say (`label_task`).
CLASSIFICATION_MAX_LEVELS = 20
REGRESSION_MIN_LEVELS = 50
REGRESSION_MIN_SHARE = 0.5


class AmbiguousTask(InvalidDataset):
    """The label could be a class or a number to predict: `--task` must say which."""


class NonNumericTarget(InvalidDataset):
    """A regression target (or stored prediction) that is not a numeric column."""


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str
    type_name: str
    dim: int | None = None
    source: str | None = None  # the text column a vector column is the embedding of


def feature_columns(
    conn: psycopg.Connection[Any],
    ref: TableRef,
    key: str,
    label: str,
    features: list[tuple[str, str | None]] | None,
) -> list[tuple[ColumnInfo, str | None]]:
    """The columns named in `features` with their declared kinds, or, when none are
    named, every column but the key and the label whose type mendb can read, less
    those that number the rows (`row_number_columns`)."""
    if features:
        columns = resolve_columns(conn, ref, [name for name, _ in features])
        for column in columns:
            if column.name in (key, label):
                raise InvalidDataset(
                    f"column {column.name!r} of {ref} is the key or the label, not a feature",
                    table=str(ref),
                    column=column.name,
                )
        return list(zip(columns, (kind for _, kind in features), strict=True))
    usable = _usable_columns(conn, ref, key, label)
    counters = set(row_number_columns(conn, ref, key, label))
    chosen: list[tuple[ColumnInfo, str | None]] = [
        (column, None) for column in usable if column.name not in counters
    ]
    if not chosen:
        raise InvalidDataset(f"table {ref} has no usable feature columns", table=str(ref))
    return chosen


def row_number_columns(
    conn: psycopg.Connection[Any], ref: TableRef, key: str, label: str
) -> list[str]:
    """The numeric columns, besides the key and the label, that number the rows:
    whole numbers, none missing, no two alike, running without a gap (R's rownames,
    a pandas index written out, a serial id). A row number says where a row sits in
    the file, not what it is: as a feature it lets a model learn the file's order,
    so a registration that names no features leaves it out."""
    found = []
    for column in _usable_columns(conn, ref, key, label):
        if column.kind != "numeric":
            continue
        names = {"column": column.identifier, "table": ref.identifier}
        span = conn.execute(query("datasets_row_number_span").format(**names)).fetchone()
        total, non_null, spans_rows = span or (0, 0, False)
        # The count of distinct values sorts the column: only for one that spans.
        if total < 3 or non_null < total or not spans_rows:
            continue
        distinct = conn.execute(query("datasets_distinct_values").format(**names)).fetchone()
        if distinct is not None and distinct[0] == total:
            found.append(column.name)
    return found


def left_out_columns(
    conn: psycopg.Connection[Any], ref: TableRef, key: str, label: str,
    features: Sequence[Feature],
) -> list[str]:  # fmt: skip
    """The readable columns a registration that named no features left out: those
    `row_number_columns` found. Read from the catalog, so no column is scanned twice."""
    taken = {f.name for f in features}
    return [c.name for c in _usable_columns(conn, ref, key, label) if c.name not in taken]


def _usable_columns(
    conn: psycopg.Connection[Any], ref: TableRef, key: str, label: str
) -> list[ColumnInfo]:
    return [
        column
        for column in table_columns(conn, ref).values()
        if column.name not in (key, label) and column.kind != "other"
    ]


def with_sources(
    conn: psycopg.Connection[Any],
    ref: TableRef,
    features: tuple[Feature, ...],
    derived: dict[str, str],
) -> tuple[Feature, ...]:
    """The features, each vector one named in `derived` with its text column."""
    kinds = {f.name: f.kind for f in features}
    for vector, source in derived.items():
        if kinds.get(vector) != "vector":
            raise InvalidDataset(
                f"--derived {vector}={source}: {vector!r} is not a vector feature of {ref}",
                table=str(ref),
                column=vector,
            )
        (column,) = resolve_columns(conn, ref, [source])
        if column.kind != "text":
            raise InvalidDataset(
                f"--derived {vector}={source}: {source!r} of {ref} is not a text column",
                table=str(ref),
                column=source,
            )
    return tuple(Feature(f.name, f.kind, f.type_name, f.dim, derived.get(f.name)) for f in features)


def feature_of(
    conn: psycopg.Connection[Any], ref: TableRef, column: ColumnInfo, kind: str | None
) -> Feature:
    """The column as a feature of the declared kind, or of the kind its type and
    data suggest."""
    if column.kind == "other" and kind is None:
        raise InvalidDataset(
            f"column {column.name!r} of {ref} has type {column.type_name}, which mendb cannot"
            " use as a feature",
            table=str(ref),
            column=column.name,
        )
    if kind is not None and column.kind not in COLUMN_KINDS[kind]:
        raise InvalidDataset(
            f"column {column.name!r} of {ref} has type {column.type_name}, which cannot be"
            f" read as a {kind} feature",
            table=str(ref),
            column=column.name,
        )
    dim = column.dim
    if column.kind == "vector":
        dim = _vector_dim(conn, ref, column)
    chosen = kind or column.kind
    if kind is None and column.kind == "text" and _looks_categorical(conn, ref, column):
        chosen = "categorical"
    return Feature(column.name, chosen, column.type_name, dim)


def _vector_dim(conn: psycopg.Connection[Any], ref: TableRef, column: ColumnInfo) -> int:
    if column.dim:
        return column.dim
    statement = query("datasets_vector_dims").format(column=column.identifier, table=ref.identifier)
    low, high = conn.execute(statement).fetchone() or (None, None)
    if low is None or low != high:
        raise InvalidDataset(
            f"vector column {column.name!r} of {ref} has no fixed dimension"
            f" (found {low} to {high})",
            table=str(ref),
            column=column.name,
        )
    return int(low)


def _looks_categorical(conn: psycopg.Connection[Any], ref: TableRef, column: ColumnInfo) -> bool:
    statement = query("datasets_text_levels").format(column=column.identifier, table=ref.identifier)
    levels, longest = conn.execute(statement).fetchone() or (0, 0)
    return bool(levels <= CATEGORICAL_MAX_LEVELS and longest <= CATEGORICAL_MAX_LENGTH)


def label_task(
    conn: psycopg.Connection[Any],
    ref: TableRef,
    label: ColumnInfo,
    requested: Task | None,
    distinct: int,
    rows: int,
) -> Task:
    """The task of a label with `distinct` values over `rows` non-null rows: the
    one requested, once the label can be it, or the one its type and values show
    (see the module's docstring)."""
    where = {"table": str(ref), "column": label.name}
    if requested is Task.REGRESSION and label.kind != "numeric":
        raise NonNumericTarget(
            f"label column {label.name!r} of {ref} has type {label.type_name}; a"
            " regression target must be a number (integer, numeric, real or double"
            " precision): use --task classification, or cast the column",
            **where,
        )
    if requested is not None:
        return requested
    if label.kind != "numeric":
        return Task.CLASSIFICATION
    integer = label.name in integer_columns(conn, ref, [label.name])
    if integer and distinct <= CLASSIFICATION_MAX_LEVELS:
        return Task.CLASSIFICATION
    if distinct >= REGRESSION_MIN_LEVELS or (
        distinct > CLASSIFICATION_MAX_LEVELS and distinct >= REGRESSION_MIN_SHARE * rows
    ):
        return Task.REGRESSION
    raise AmbiguousTask(
        f"label column {label.name!r} of {ref} ({label.type_name}, {distinct} distinct values"
        f" in {rows} rows) could be classes or a number to predict; say which with"
        " --task classification or --task regression",
        **where,
    )
