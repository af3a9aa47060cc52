"""Which columns of a table a dataset reads as features, and as which kind.

A registration names its features or takes every usable column; each column's
kind comes from its type in the catalog (`db.catalog`), and a text column's from
its data too: few, short values make it categorical. A vector column needs one
dimension throughout, and a vector derived from a text column names that column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from mendb.db.catalog import ColumnInfo, TableRef, resolve_columns, table_columns
from mendb.db.errors import InvalidDataset
from mendb.db.queries import query

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
    named, every column but the key and the label whose type mendb can read."""
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
    chosen: list[tuple[ColumnInfo, str | None]] = [
        (column, None)
        for column in table_columns(conn, ref).values()
        if column.name not in (key, label) and column.kind != "other"
    ]
    if not chosen:
        raise InvalidDataset(f"table {ref} has no usable feature columns", table=str(ref))
    return chosen


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
