"""Registering a table as a dataset, and reading registrations back.

Every check runs before anything is written: a missing table or column, a key that
is null or not unique, or a label with fewer than two classes is refused with an
error that names it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy.engine import Engine

from mendb.db import changes
from mendb.db.catalog import ColumnInfo, TableRef, resolve_columns, resolve_table, table_columns
from mendb.db.errors import (
    DatasetExists,
    InvalidDataset,
    InvalidName,
    MendbError,
    SourceTableMissing,
    UnknownColumn,
    UnknownDataset,
)

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
# A dataset's name appears in URLs, file names and messages.
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
# Schemas whose tables are mendb's own or PostgreSQL's, never training rows.
RESERVED_SCHEMAS = ("mendb", "pg_catalog", "information_schema", "pg_toast")


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str
    type_name: str
    dim: int | None = None
    source: str | None = None  # the text column a vector column is the embedding of


@dataclass(frozen=True)
class SplitSpec:
    """How validation and test rows are chosen: by a hash of (seed, key), from the
    training table, or from a separate validation table split the same way."""

    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    validation_table: str | None = None

    def check(self) -> None:
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise MendbError(f"{name.replace('_', '-')} must be between 0 and 1, got {value}")
        if self.validation_table is None and self.validation_fraction + self.test_fraction >= 1:
            raise MendbError("validation-fraction + test-fraction must leave rows for training")


@dataclass(frozen=True)
class Dataset:
    name: str
    table: TableRef
    key: str
    label: str
    features: tuple[Feature, ...]
    split: SplitSpec
    task: str = "classification"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Dataset:
        return cls(
            name=row["name"],
            table=TableRef(row["table_schema"], row["table_name"]),
            key=row["key_column"],
            label=row["label_column"],
            features=tuple(Feature(**f) for f in row["features"]),
            split=SplitSpec(**row["split"]),
            task=row["task"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": str(self.table),
            "key": self.key,
            "label": self.label,
            "features": [asdict(f) for f in self.features],
            "split": asdict(self.split),
            "task": self.task,
        }


def parse_feature_spec(spec: str) -> list[tuple[str, str | None]]:
    """'a,b:text,c' -> [('a', None), ('b', 'text'), ('c', None)]."""
    parsed: list[tuple[str, str | None]] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, kind = item.partition(":")
        if kind and kind not in FEATURE_KINDS:
            raise MendbError(
                f"feature kind {kind!r} of column {name!r} must be one of {FEATURE_KINDS}"
            )
        parsed.append((name, kind or None))
    return parsed


def register(
    conn: psycopg.Connection[Any],
    engine: Engine,
    name: str,
    table: str,
    key: str,
    label: str,
    features: list[tuple[str, str | None]] | None = None,
    split: SplitSpec | None = None,
    derived: dict[str, str] | None = None,
) -> Dataset:
    """Check everything, then write the registration. `derived` maps a vector
    feature to the text column it is the embedding of (`--derived emb=note`)."""
    check_name(name)
    split = split or SplitSpec()
    split.check()
    if get_optional(conn, name) is not None:
        raise DatasetExists(f"dataset {name!r} is already registered")
    ref = _training_table(engine, table)
    key_col, label_col = resolve_columns(engine, ref, [key, label])
    chosen = _feature_columns(engine, ref, key, label, features)
    _check_key(conn, ref, key_col)
    _check_label(conn, ref, key_col, label_col)
    resolved = tuple(_feature_of(conn, ref, column, kind) for column, kind in chosen)
    resolved = _with_sources(engine, ref, resolved, derived or {})
    if split.validation_table is not None:
        valid_ref = resolve_table(engine, split.validation_table)
        resolve_columns(engine, valid_ref, [key, label, *(f.name for f in resolved)])
        split = SplitSpec(
            split.validation_fraction, split.test_fraction, split.seed, str(valid_ref)
        )
    dataset = Dataset(name, ref, key, label, resolved, split)
    with conn.transaction():
        conn.execute(
            "INSERT INTO mendb.datasets (name, table_schema, table_name, key_column,"
            " label_column, features, split) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                name,
                ref.schema,
                ref.name,
                key,
                label,
                Jsonb([asdict(f) for f in resolved]),
                Jsonb(asdict(split)),
            ],
        )
        changes.attach(conn, name, ref, key)
    return dataset


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidName(
            f"dataset name {name[:80]!r} is not allowed: a letter, then up to 62 letters,"
            " digits, _ or -",
            row=name[:80],
        )


def _training_table(engine: Engine, table: str) -> TableRef:
    ref = resolve_table(engine, table)
    if ref.schema in RESERVED_SCHEMAS or ref.schema.startswith("pg_"):
        raise InvalidDataset(
            f"table {ref} belongs to {'mendb' if ref.schema == 'mendb' else 'PostgreSQL'},"
            " not to your data; register a table of training rows",
            table=str(ref),
        )
    return ref


def get_optional(conn: psycopg.Connection[Any], name: str) -> Dataset | None:
    if "\x00" in name:  # PostgreSQL text cannot hold it, so no dataset has it
        return None
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("SELECT * FROM mendb.datasets WHERE name = %s", [name]).fetchone()
    return Dataset.from_row(row) if row else None


def get(conn: psycopg.Connection[Any], name: str) -> Dataset:
    dataset = get_optional(conn, name)
    if dataset is None:
        raise UnknownDataset(
            f"no dataset named {name[:80]!r} is registered (see `mendb datasets`)", row=name[:80]
        )
    _check_tables(conn, dataset)
    return dataset


def _check_tables(conn: psycopg.Connection[Any], dataset: Dataset) -> None:
    """Refuse a dataset whose table (or validation table), or one of the columns it
    reads, was dropped or renamed after it was registered, naming it, before anything
    reads or writes."""
    columns = [dataset.key, dataset.label, *(f.name for f in dataset.features)]
    sources = [f.source for f in dataset.features if f.source]
    tables = [(dataset.table, columns + sources)]
    if dataset.split.validation_table is not None:
        tables.append((TableRef.parse(dataset.split.validation_table), columns))
    for ref, needed in tables:
        found = conn.execute(
            "SELECT array(SELECT a.attname::text FROM pg_catalog.pg_attribute a"
            "  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)"
            " FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            [ref.schema, ref.name],
        ).fetchone()
        if found is None:
            raise SourceTableMissing(
                f"table {ref} of dataset {dataset.name!r} no longer exists; restore it, or"
                " register the data again under a new name",
                table=str(ref),
                row=dataset.name,
            )
        missing = [name for name in needed if name not in found[0]]
        if missing:
            raise UnknownColumn(
                f"column {missing[0]!r} of {ref} (dataset {dataset.name!r}) no longer exists;"
                " restore it, or register the data again under a new name",
                table=str(ref),
                column=missing[0],
                row=dataset.name,
            )


def list_all(conn: psycopg.Connection[Any]) -> list[Dataset]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute("SELECT * FROM mendb.datasets ORDER BY name").fetchall()
    return [Dataset.from_row(row) for row in rows]


def _feature_columns(
    engine: Engine,
    ref: TableRef,
    key: str,
    label: str,
    features: list[tuple[str, str | None]] | None,
) -> list[tuple[ColumnInfo, str | None]]:
    if features:
        columns = resolve_columns(engine, ref, [name for name, _ in features])
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
        for column in table_columns(engine, ref).values()
        if column.name not in (key, label) and column.kind != "other"
    ]
    if not chosen:
        raise InvalidDataset(f"table {ref} has no usable feature columns", table=str(ref))
    return chosen


def _with_sources(
    engine: Engine, ref: TableRef, features: tuple[Feature, ...], derived: dict[str, str]
) -> tuple[Feature, ...]:
    kinds = {f.name: f.kind for f in features}
    for vector, source in derived.items():
        if kinds.get(vector) != "vector":
            raise InvalidDataset(
                f"--derived {vector}={source}: {vector!r} is not a vector feature of {ref}",
                table=str(ref),
                column=vector,
            )
        (column,) = resolve_columns(engine, ref, [source])
        if column.kind != "text":
            raise InvalidDataset(
                f"--derived {vector}={source}: {source!r} of {ref} is not a text column",
                table=str(ref),
                column=source,
            )
    return tuple(Feature(f.name, f.kind, f.type_name, f.dim, derived.get(f.name)) for f in features)


def parse_derived(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """('emb=note',) -> {'emb': 'note'}."""
    parsed = {}
    for item in items:
        vector, sep, source = item.partition("=")
        if not sep or not vector or not source:
            raise MendbError(f"--derived {item!r} is not VECTOR_COLUMN=TEXT_COLUMN")
        parsed[vector.strip()] = source.strip()
    return parsed


def _check_key(conn: psycopg.Connection[Any], ref: TableRef, key: ColumnInfo) -> None:
    query = sql.SQL(
        "SELECT count(*), count({key}), count(DISTINCT {key}),"
        " (SELECT {key}::text FROM {table} GROUP BY {key} HAVING count(*) > 1 LIMIT 1)"
        " FROM {table}"
    ).format(key=key.identifier, table=ref.identifier)
    total, non_null, distinct, duplicate = conn.execute(query).fetchone()  # type: ignore[misc]
    where = {"table": str(ref), "column": key.name}
    if total == 0:
        raise InvalidDataset(f"table {ref} has no rows", table=str(ref))
    if non_null < total:
        raise InvalidDataset(
            f"key column {key.name!r} of {ref} has {total - non_null} null values", **where
        )
    if distinct < non_null:
        raise InvalidDataset(
            f"key column {key.name!r} of {ref} is not unique: {non_null - distinct} duplicate"
            f" values, e.g. {duplicate!r}",
            row=duplicate,
            **where,
        )


def _check_label(
    conn: psycopg.Connection[Any], ref: TableRef, key: ColumnInfo, label: ColumnInfo
) -> None:
    query = sql.SQL(
        "SELECT count(DISTINCT {label}),"
        " (SELECT {key}::text FROM {table} WHERE {label} IS NULL LIMIT 1),"
        " count(*) FILTER (WHERE {label} IS NULL) FROM {table}"
    ).format(label=label.identifier, key=key.identifier, table=ref.identifier)
    classes, null_key, nulls = conn.execute(query).fetchone()  # type: ignore[misc]
    where = {"table": str(ref), "column": label.name}
    if nulls:
        raise InvalidDataset(
            f"label column {label.name!r} of {ref} has {nulls} null values, e.g. in row"
            f" {null_key!r}",
            row=null_key,
            **where,
        )
    if classes < 2:
        raise InvalidDataset(
            f"label column {label.name!r} of {ref} has {classes} class; at least 2 are needed",
            **where,
        )


def _feature_of(
    conn: psycopg.Connection[Any], ref: TableRef, column: ColumnInfo, kind: str | None
) -> Feature:
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
    query = sql.SQL("SELECT min(vector_dims({c})), max(vector_dims({c})) FROM {t}").format(
        c=column.identifier, t=ref.identifier
    )
    low, high = conn.execute(query).fetchone()  # type: ignore[misc]
    if low is None or low != high:
        raise InvalidDataset(
            f"vector column {column.name!r} of {ref} has no fixed dimension"
            f" (found {low} to {high})",
            table=str(ref),
            column=column.name,
        )
    return int(low)


def _looks_categorical(conn: psycopg.Connection[Any], ref: TableRef, column: ColumnInfo) -> bool:
    query = sql.SQL(
        "SELECT count(DISTINCT {c}), coalesce(max(length({c}::text)), 0) FROM {t}"
    ).format(c=column.identifier, t=ref.identifier)
    levels, longest = conn.execute(query).fetchone()  # type: ignore[misc]
    return bool(levels <= CATEGORICAL_MAX_LEVELS and longest <= CATEGORICAL_MAX_LENGTH)
