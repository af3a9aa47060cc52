"""Registering a table as a dataset, and reading registrations back.

Every check runs before anything is written: a missing table or column, a key that
is null or not unique, a label with fewer than two classes, or a label whose task
cannot be told (`db.features.label_task`: `--task` says it) is refused with an
error that names it. A regression target must be numeric and finite in every row.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from mendb.db import changes, migrate
from mendb.db.catalog import (
    ColumnInfo,
    TableRef,
    relation_exists,
    resolve_columns,
    resolve_table,
    table_columns,
)
from mendb.db.errors import (
    DatasetExists,
    InvalidDataset,
    InvalidName,
    MendbError,
    SourceTableMissing,
    UnknownColumn,
    UnknownDataset,
)
from mendb.db.features import (
    FEATURE_KINDS,
    Feature,
    NonNumericTarget,
    feature_columns,
    feature_of,
    label_task,
    with_sources,
)
from mendb.db.queries import query
from mendb.valuation.task import Task

# A dataset's name appears in URLs, file names and messages.
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
# Schemas whose tables are mendb's own or PostgreSQL's, never training rows.
RESERVED_SCHEMAS = ("mendb", "pg_catalog", "information_schema", "pg_toast")


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
    task: Task = Task.CLASSIFICATION

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Dataset:
        return cls(
            name=row["name"],
            table=TableRef(row["table_schema"], row["table_name"]),
            key=row["key_column"],
            label=row["label_column"],
            features=tuple(Feature(**f) for f in row["features"]),
            split=SplitSpec(**row["split"]),
            task=Task(row["task"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": str(self.table),
            "key": self.key,
            "label": self.label,
            "features": [asdict(f) for f in self.features],
            "split": asdict(self.split),
            "task": self.task.value,
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
    name: str,
    table: str,
    key: str,
    label: str,
    features: list[tuple[str, str | None]] | None = None,
    split: SplitSpec | None = None,
    derived: dict[str, str] | None = None,
    task: Task | str | None = None,
) -> Dataset:
    """Check everything, then write the registration. `derived` maps a vector
    feature to the text column it is the embedding of (`--derived emb=note`);
    `task` is classification or regression, or None to infer it from the label."""
    check_name(name)
    split = split or SplitSpec()
    split.check()
    requested = parse_task(task)
    if get_optional(conn, name) is not None:
        raise DatasetExists(f"dataset {name!r} is already registered")
    ref = _training_table(conn, table)
    key_col, label_col = resolve_columns(conn, ref, [key, label])
    chosen = feature_columns(conn, ref, key, label, features)
    _check_key(conn, ref, key_col)
    chosen_task = _check_label(conn, ref, key_col, label_col, requested)
    resolved = tuple(feature_of(conn, ref, column, kind) for column, kind in chosen)
    resolved = with_sources(conn, ref, resolved, derived or {})
    if split.validation_table is not None:
        valid_ref = resolve_table(conn, split.validation_table)
        valid_label = resolve_columns(conn, valid_ref, [key, label, *(f.name for f in resolved)])[1]
        if chosen_task is Task.REGRESSION:
            _check_target(conn, valid_ref, key_col, valid_label)
        split = SplitSpec(
            split.validation_fraction, split.test_fraction, split.seed, str(valid_ref)
        )
    dataset = Dataset(name, ref, key, label, resolved, split, chosen_task)
    with conn.transaction():
        conn.execute(
            query("datasets_insert"),
            {"name": name, "table_schema": ref.schema, "table_name": ref.name,
             "key_column": key, "label_column": label,
             "features": Jsonb([asdict(f) for f in resolved]), "split": Jsonb(asdict(split)),
             "task": chosen_task.value},
        )
        changes.attach(conn, name, ref, key)
    return dataset


def parse_task(task: Task | str | None) -> Task | None:
    """The task a registration asks for, None to infer it."""
    if task is None or isinstance(task, Task):
        return task
    try:
        return Task(task)
    except ValueError:
        raise InvalidDataset(
            f"task {task[:80]!r} must be one of {[t.value for t in Task]}", column="task"
        ) from None


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidName(
            f"dataset name {name[:80]!r} is not allowed: a letter, then up to 62 letters,"
            " digits, _ or -",
            row=name[:80],
        )


def _training_table(conn: psycopg.Connection[Any], table: str) -> TableRef:
    ref = resolve_table(conn, table)
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
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query("datasets_get"), {"name": name}).fetchone()
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
        if not relation_exists(conn, ref):
            raise SourceTableMissing(
                f"table {ref} of dataset {dataset.name!r} no longer exists; restore it, or"
                " register the data again under a new name",
                table=str(ref),
                row=dataset.name,
            )
        found = table_columns(conn, ref)
        missing = [name for name in needed if name not in found]
        if missing:
            raise UnknownColumn(
                f"column {missing[0]!r} of {ref} (dataset {dataset.name!r}) no longer exists;"
                " restore it, or register the data again under a new name",
                table=str(ref),
                column=missing[0],
                row=dataset.name,
            )


def list_all(conn: psycopg.Connection[Any]) -> list[Dataset]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query("datasets_list")).fetchall()
    return [Dataset.from_row(row) for row in rows]


def delete(conn: psycopg.Connection[Any], name: str) -> None:
    """Forget the registration `name`, if any; its table is left as it is."""
    with conn.transaction():
        conn.execute(query("datasets_delete"), {"name": name})


def registered_tables(conn: psycopg.Connection[Any]) -> list[TableRef]:
    """Tables of registered datasets, where mendb is installed and this role may
    read the registrations; none otherwise."""
    if not migrate.installed(conn):
        return []
    readable = conn.execute(query("datasets_readable")).fetchone()
    if not readable or not readable[0]:
        return []
    rows = conn.execute(query("datasets_registered_tables")).fetchall()
    return [TableRef.parse(row[0]) for row in rows]


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
    statement = query("datasets_key_check").format(key=key.identifier, table=ref.identifier)
    total, non_null, distinct, duplicate = conn.execute(statement).fetchone() or (0, 0, 0, None)
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
    conn: psycopg.Connection[Any],
    ref: TableRef,
    key: ColumnInfo,
    label: ColumnInfo,
    requested: Task | None,
) -> Task:
    """Refuse a label with nulls or a single value, and return its task."""
    statement = query("datasets_label_check").format(
        label=label.identifier, key=key.identifier, table=ref.identifier
    )
    classes, null_key, nulls, rows = conn.execute(statement).fetchone() or (0, None, 0, 0)
    where = {"table": str(ref), "column": label.name}
    if nulls:
        raise InvalidDataset(
            f"label column {label.name!r} of {ref} has {nulls} null values, e.g. in row"
            f" {null_key!r}",
            row=null_key,
            **where,
        )
    if classes < 2:
        what = "distinct value" if requested is Task.REGRESSION else "class"
        raise InvalidDataset(
            f"label column {label.name!r} of {ref} has {classes} {what}; at least 2 are needed",
            **where,
        )
    task = label_task(conn, ref, label, requested, classes, rows)
    if task is Task.REGRESSION:
        _check_target(conn, ref, key, label)
    return task


def _check_target(
    conn: psycopg.Connection[Any], ref: TableRef, key: ColumnInfo, label: ColumnInfo
) -> None:
    """A regression target is a number in every row: not text, never NaN or infinite."""
    where = {"table": str(ref), "column": label.name}
    if label.kind != "numeric":
        raise NonNumericTarget(
            f"label column {label.name!r} of {ref} has type {label.type_name}; a regression"
            " target must be a number",
            **where,
        )
    statement = query("datasets_target_nonfinite").format(
        label=label.identifier, key=key.identifier, table=ref.identifier
    )
    found = conn.execute(statement).fetchone()
    if found is not None:
        raise InvalidDataset(
            f"label column {label.name!r} of {ref} is {found[1]} in row {found[0]!r};"
            " a regression target must be a finite number in every row",
            row=found[0],
            **where,
        )
