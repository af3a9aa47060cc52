"""Read a registered dataset into arrays with binary COPY.

Every feature is cast in SQL to a fixed-width binary field (float8, or pgvector's
own binary form for vectors; `db.read_query` builds the statement), so the COPY
stream is a sequence of equal-sized rows that `db.copy_stream` hands over a block
at a time and `db.read_parts` decodes in bulk, not row by row in Python,
straight into the training, validation and test arrays while the server sends
the next rows. Each row's count and length words
are checked against the layout, so a field of another width can never shift the
columns unnoticed. The server sends the md5 digest a row's split unit comes from
and numpy finishes it; integer labels travel as themselves. Nulls never
become zeros: a null number or category becomes NaN, a null vector is read as
zeros plus a flag and then set to NaN; `missing` marks them and
`valuation.preprocess.prepare` imputes them.

An integer key travels in the same stream as an int8 field, so the whole table is
one COPY. Any other key is read first by a COPY of its text, and the values by a
second COPY in the same order; a null key is a named error, never a misaligned
row.

Text columns contribute the embedding cached for their current content in
`mendb.embeddings` (`db/embeddings.py` fills it first), read in the same binary
form as a vector column, through a lateral join; a row with a null text, or no
embedding of its current text, reads as missing. Text columns without a model
are skipped and listed in `skipped_columns`.

A regression dataset's target travels as a float8 field and becomes `y` as it
is, with no classes; a null, NaN or infinite target is named like a null label.
The user's stored out-of-fold predictions (`predictions=COLUMN`, checked by
`db.stored_predictions`) travel as one more float8 field of the training table
and become `TrainingArrays.predictions` for the training rows.

Every COPY of a read sees one REPEATABLE READ snapshot in key order, so they line
up row for row, and the fingerprint identifies exactly the rows read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from mendb.db.catalog import TableRef, integer_columns
from mendb.db.copy_stream import stream_records
from mendb.db.datasets import Dataset
from mendb.db.errors import InvalidDataset
from mendb.db.features import Feature
from mendb.db.queries import query
from mendb.db.read_parts import LabelCodes, TableSink
from mendb.db.read_query import feature_layout, values_query
from mendb.db.stored_predictions import as_probabilities, check_column, check_values
from mendb.valuation.data import Task, TrainingArrays


@dataclass(frozen=True)
class DatasetRead:
    """The arrays, plus what identifies the read. Free-text columns read without
    an embedding model are listed in `skipped_columns` so callers can say so."""

    arrays: TrainingArrays
    fingerprint: str
    rows_read: int
    skipped_columns: tuple[str, ...]


def read_dataset(
    conn: psycopg.Connection[Any],
    dataset: Dataset,
    embeddings: Mapping[str, tuple[str, int]] | None = None,
    predictions: str | None = None,
) -> DatasetRead:
    """`embeddings` maps a text column to the (model, dimension) of its cached
    embeddings; text columns not in it are skipped. `predictions` names a column
    of the training table holding the user's out-of-fold predictions."""
    embeddings = embeddings or {}
    regression = dataset.task is Task.REGRESSION
    usable = tuple(
        replace(f, dim=embeddings[f.name][1]) if f.kind == "text" else f
        for f in dataset.features
        if f.kind != "text" or f.name in embeddings
    )
    skipped = tuple(
        f.name for f in dataset.features if f.kind == "text" and f.name not in embeddings
    )
    digest = hashlib.sha256()
    with _snapshot(conn):
        tables = [dataset.table, *_extra_tables(dataset)]
        for table in tables:
            _check_vector_dims(conn, dataset, table, usable)
        if predictions is not None:
            check_column(conn, dataset, predictions)
        integers = [integer_columns(conn, t, [dataset.key, dataset.label]) for t in tables]
        # Integer labels are read as they are and their classes taken from the
        # rows read, which spares a scan of the label column before the read.
        raw_labels = not regression and all(dataset.label in columns for columns in integers)
        classes = () if raw_labels or regression else _distinct(conn, dataset, dataset.label)
        categories = {
            f.name: _distinct(conn, dataset, f.name, dataset.table)
            for f in usable
            if f.kind == "categorical"
        }
        models = {name: model for name, (model, _) in embeddings.items()}
        sinks = []
        for i, table in enumerate(tables):
            labels = (
                LabelCodes(target=True)
                if regression
                else _label_codes(raw_labels, dataset.label in integers[i], classes)
            )
            sink = _read_table(
                conn,
                dataset,
                table,
                _routing(dataset, i, len(tables)),
                usable,
                integer_key=dataset.key in integers[i],
                labels=labels,
                classes=classes,
                categories=categories,
                models=models,
                predictions=predictions if i == 0 else None,
            )
            sinks.append(_finished(conn, dataset, table, sink, digest))
        if raw_labels:
            classes = _sorted_text(conn, set().union(*(s.label_values for s in sinks)))
            codes = LabelCodes.for_integers(classes, marks_null=False)
            for sink in sinks:
                sink.recode(codes or LabelCodes())
    train = sinks[0].splits()[0]
    _, valid, test = sinks[-1].splits()
    names, kinds = feature_layout(usable)
    stored = sinks[0].train_predictions()
    if predictions is not None and stored is not None:
        check_values(dataset, predictions, train.keys, stored, classes)
        stored = stored if regression else as_probabilities(stored)
    arrays = TrainingArrays(
        train=train,
        valid=valid,
        test=test,
        classes=classes,
        feature_names=names,
        missing=np.isnan(train.x),
        feature_kinds=kinds,
        categories=categories,
        task=dataset.task,
        predictions=stored,
    )
    return DatasetRead(arrays, digest.hexdigest(), sum(sink.rows for sink in sinks), skipped)


def _routing(dataset: Dataset, index: int, tables: int) -> tuple[float, float]:
    """Split-unit bounds of validation and test rows (see `TableSink`): by the
    fractions in one table; with a validation table, none in the training table
    and, in the validation table, validation and test rows in their proportion."""
    spec = dataset.split
    if tables == 1:
        return spec.validation_fraction, spec.validation_fraction + spec.test_fraction
    if index == 0:
        return 0.0, 0.0
    return spec.validation_fraction / (spec.validation_fraction + spec.test_fraction), 2.0


def _extra_tables(dataset: Dataset) -> list[TableRef]:
    table = dataset.split.validation_table
    return [TableRef.parse(table)] if table else []


def _check_vector_dims(
    conn: psycopg.Connection[Any], dataset: Dataset, table: TableRef, features: tuple[Feature, ...]
) -> None:
    """A vector of another dimension than registered would break the fixed-width
    parse; name its column and row instead."""
    for feature in features:
        if feature.kind != "vector":
            continue
        statement = query("read_vector_dims_check").format(
            key=sql.Identifier(dataset.key),
            column=sql.Identifier(feature.name),
            table=table.identifier,
        )
        bad = conn.execute(statement, {"dim": feature.dim}).fetchone()
        if bad is not None:
            raise InvalidDataset(
                f"vector column {feature.name!r} of {table} has {bad[1]} dimensions in row"
                f" {bad[0]!r}; the dataset was registered with {feature.dim}",
                table=str(table),
                column=feature.name,
                row=str(bad[0]),
            )


@contextmanager
def _snapshot(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """REPEATABLE READ, read-only, when not already inside a caller's transaction."""
    own = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        if own:
            conn.execute(query("read_snapshot"))
        yield


def _distinct(
    conn: psycopg.Connection[Any], dataset: Dataset, column: str, only: TableRef | None = None
) -> tuple[str, ...]:
    """The distinct values of `column` as text, in the training and validation
    tables or `only` in one."""
    identifier = sql.Identifier(column)
    if only is None and dataset.split.validation_table:
        statement = query("read_distinct_with_validation").format(
            column=identifier,
            table=dataset.table.identifier,
            validation_table=TableRef.parse(dataset.split.validation_table).identifier,
        )
    else:
        statement = query("read_distinct").format(
            column=identifier, table=(only or dataset.table).identifier
        )
    return tuple(row[0] for row in conn.execute(statement))


def _read_table(
    conn: psycopg.Connection[Any],
    dataset: Dataset,
    table: TableRef,
    routing: tuple[float, float],
    features: tuple[Feature, ...],
    integer_key: bool,
    labels: LabelCodes | None,
    classes: tuple[str, ...],
    categories: dict[str, tuple[str, ...]],
    models: dict[str, str],
    predictions: str | None,
) -> TableSink:
    """The table's rows, read into a sink; `_finished` checks and hashes it."""
    if integer_key:
        statement, params, layout = values_query(
            dataset, table, features, classes, categories, labels, True, models, predictions
        )
        rows = _count(conn, table)
        sink = TableSink(layout, rows, routing, keys=None)
        rest = stream_records(conn, statement, params, layout.dtype, rows, sink.take)
        # A null key is the one field that reaches the stream at another width;
        # the text path below names it.
        if sink.complete(rest):
            return sink
    keys = _read_keys(conn, dataset, table)
    statement, params, layout = values_query(
        dataset, table, features, classes, categories, labels, False, models, predictions
    )
    sink = TableSink(layout, len(keys), routing, keys=keys)
    rest = stream_records(conn, statement, params, layout.dtype, len(keys), sink.take)
    if not sink.complete(rest):
        raise RuntimeError(f"the values COPY of {table} did not match its keys: {sink.error}")
    return sink


def _label_codes(raw: bool, integer: bool, classes: tuple[str, ...]) -> LabelCodes | None:
    """Raw integer labels, integer labels coded in bulk, or None: coded by the server."""
    if raw:
        return LabelCodes(raw=True)
    return LabelCodes.for_integers(classes) if integer else None


def _finished(
    conn: psycopg.Connection[Any], dataset: Dataset, table: TableRef, sink: TableSink, digest: Any
) -> TableSink:
    """Name a null label, then add the table to the fingerprint."""
    null_row = sink.null_label_key
    if null_row is not None and sink.layout.labels.raw:
        # A raw label equal to the null marker may be a real one: ask.
        null_row = _first_null_label(conn, dataset, table)
    if null_row is not None:
        what = "null, NaN or infinite" if sink.layout.labels.target else "null"
        raise InvalidDataset(
            f"label column {dataset.label!r} of {table} is {what} in row {null_row!r}",
            table=str(table),
            column=dataset.label,
            row=null_row,
        )
    if sink.given_keys is not None:
        digest.update("\x1f".join(sink.given_keys).encode())
    digest.update(sink.digest.digest())
    return sink


def _first_null_label(
    conn: psycopg.Connection[Any], dataset: Dataset, table: TableRef
) -> str | None:
    statement = query("read_first_null_label").format(
        table=table.identifier, key=sql.Identifier(dataset.key), label=sql.Identifier(dataset.label)
    )
    found = conn.execute(statement).fetchone()
    return None if found is None else str(found[0])


def _sorted_text(conn: psycopg.Connection[Any], values: set[int]) -> tuple[str, ...]:
    """The values as text, in the order `_distinct` gives the text of a column."""
    found = conn.execute(query("read_sorted_text"), {"values": [str(v) for v in values]})
    return tuple(row[0] for row in found)


def _count(conn: psycopg.Connection[Any], table: TableRef) -> int:
    found = conn.execute(query("read_count").format(table=table.identifier)).fetchone()
    return int(found[0]) if found else 0


def _read_keys(conn: psycopg.Connection[Any], dataset: Dataset, table: TableRef) -> list[str]:
    """The keys as text, in key order. The text format splits in bulk; it escapes
    only backslashes, control characters and nulls, and a stream with any of those
    is read again in binary form, where nothing is escaped."""
    key = sql.Identifier(dataset.key)
    text = query("read_keys_copy").format(key=key, table=table.identifier)
    data = bytearray()
    with conn.cursor() as cur, cur.copy(text) as copy:
        for chunk in copy:
            data += chunk
    if b"\\" not in data:
        return data.decode(conn.info.encoding).split("\n")[:-1]
    keys: list[str | None] = []
    binary = query("read_keys_copy_binary").format(key=key, table=table.identifier)
    with conn.cursor() as cur, cur.copy(binary) as copy:
        copy.set_types(["text"])
        keys.extend(row[0] for row in copy.rows())
    if None in keys:
        raise InvalidDataset(
            f"key column {dataset.key!r} of {table} is null in {keys.count(None)} row(s);"
            " every row needs a key to be read",
            table=str(table),
            column=dataset.key,
        )
    return [k for k in keys if k is not None]
