"""Read a registered dataset into arrays with binary COPY.

Every feature is cast in SQL to a fixed-width binary field (float8, or pgvector's
own binary form for vectors), so the COPY stream is a sequence of equal-sized rows
that `db.copy_stream` hands over a block at a time and `db.read_parts` decodes in
bulk, not row by row in Python, straight into the training, validation and test
arrays while the server sends the next rows. Each row's count and length words
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

from mendb.db.catalog import TableRef
from mendb.db.copy_stream import stream_records
from mendb.db.datasets import Dataset, Feature
from mendb.db.errors import InvalidDataset
from mendb.db.read_parts import NULL_LABEL, LabelCodes, Layout, TableSink
from mendb.valuation.data import TrainingArrays


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
) -> DatasetRead:
    """`embeddings` maps a text column to the (model, dimension) of its cached
    embeddings; text columns not in it are skipped."""
    embeddings = embeddings or {}
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
        integers = [_integer_columns(conn, t, [dataset.key, dataset.label]) for t in tables]
        # Integer labels are read as they are and their classes taken from the
        # rows read, which spares a scan of the label column before the read.
        raw_labels = all(dataset.label in columns for columns in integers)
        classes = () if raw_labels else _distinct(conn, dataset, dataset.label)
        categories = {
            f.name: _distinct(conn, dataset, f.name, dataset.table)
            for f in usable
            if f.kind == "categorical"
        }
        models = {name: model for name, (model, _) in embeddings.items()}
        sinks = []
        for i, table in enumerate(tables):
            labels = _label_codes(raw_labels, dataset.label in integers[i], classes)
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
            )
            sinks.append(_finished(conn, dataset, table, sink, digest))
        if raw_labels:
            classes = _sorted_text(conn, set().union(*(s.label_values for s in sinks)))
            codes = LabelCodes.for_integers(classes, marks_null=False)
            for sink in sinks:
                sink.recode(codes or LabelCodes())
    train = sinks[0].splits()[0]
    _, valid, test = sinks[-1].splits()
    names, kinds = _feature_layout(usable)
    arrays = TrainingArrays(
        train=train,
        valid=valid,
        test=test,
        classes=classes,
        feature_names=names,
        missing=np.isnan(train.x),
        feature_kinds=kinds,
        categories=categories,
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
        query = sql.SQL(
            "SELECT {k}::text, vector_dims({c}) FROM {t} WHERE vector_dims({c}) <> %s LIMIT 1"
        ).format(k=sql.Identifier(dataset.key), c=sql.Identifier(feature.name), t=table.identifier)
        bad = conn.execute(query, [feature.dim]).fetchone()
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
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _distinct(
    conn: psycopg.Connection[Any], dataset: Dataset, column: str, only: TableRef | None = None
) -> tuple[str, ...]:
    tables = [only] if only else [dataset.table]
    if only is None and dataset.split.validation_table:
        tables.append(TableRef.parse(dataset.split.validation_table))
    parts = [
        sql.SQL("SELECT {c}::text AS v FROM {t} WHERE {c} IS NOT NULL").format(
            c=sql.Identifier(column), t=t.identifier
        )
        for t in tables
    ]
    query = sql.SQL("SELECT DISTINCT v FROM ({}) AS u ORDER BY v").format(
        sql.SQL(" UNION ALL ").join(parts)
    )
    return tuple(row[0] for row in conn.execute(query))


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
) -> TableSink:
    """The table's rows, read into a sink; `_finished` checks and hashes it."""
    joins, join_params = _embedding_joins(dataset, table, features, models)
    if integer_key:
        query, params, layout = _values_query(
            dataset, table, joins, features, classes, categories, labels, True, join_params
        )
        rows = _count(conn, table)
        sink = TableSink(layout, rows, routing, keys=None)
        rest = stream_records(conn, query, params, layout.dtype, rows, sink.take)
        # A null key is the one field that reaches the stream at another width;
        # the text path below names it.
        if sink.complete(rest):
            return sink
    keys = _read_keys(conn, dataset, table)
    query, params, layout = _values_query(
        dataset, table, joins, features, classes, categories, labels, False, join_params
    )
    sink = TableSink(layout, len(keys), routing, keys=keys)
    rest = stream_records(conn, query, params, layout.dtype, len(keys), sink.take)
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
        raise InvalidDataset(
            f"label column {dataset.label!r} of {table} is null in row {null_row!r}",
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
    query = sql.SQL("SELECT {t}.{k}::text FROM {t} WHERE {y} IS NULL ORDER BY {t}.{k} LIMIT 1")
    found = conn.execute(
        query.format(
            t=table.identifier, k=sql.Identifier(dataset.key), y=sql.Identifier(dataset.label)
        )
    ).fetchone()
    return None if found is None else str(found[0])


def _sorted_text(conn: psycopg.Connection[Any], values: set[int]) -> tuple[str, ...]:
    """The values as text, in the order `_distinct` gives the text of a column."""
    query = "SELECT v FROM unnest(%s::text[]) AS v ORDER BY v"
    return tuple(row[0] for row in conn.execute(query, [[str(v) for v in values]]))


def _integer_columns(
    conn: psycopg.Connection[Any], table: TableRef, columns: list[str]
) -> set[str]:
    """Which of `columns` are of an integer type, so travel as a fixed-width int8."""
    found = conn.execute(
        "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s)"
        " AND a.attname = ANY(%s) AND NOT a.attisdropped"
        " AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)",
        [table.identifier.as_string(conn), columns],
    )
    return {row[0] for row in found}


def _count(conn: psycopg.Connection[Any], table: TableRef) -> int:
    found = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table.identifier)).fetchone()
    return int(found[0]) if found else 0


def _values_query(
    dataset: Dataset,
    table: TableRef,
    joins: sql.Composable,
    features: tuple[Feature, ...],
    classes: tuple[str, ...],
    categories: dict[str, tuple[str, ...]],
    labels: LabelCodes | None,
    integer_key: bool,
    join_params: list[Any],
) -> tuple[sql.Composed, list[Any], Layout]:
    """The values COPY, its parameters (those of `joins` last), and the layout of
    its records."""
    fields, params, dtype, framing = _select_list(
        dataset, table, features, classes, categories, labels, integer_key
    )
    # Output columns get aliases of their own so that ORDER BY names the table's
    # key column, never an output column that happens to share its name.
    aliased = [
        sql.SQL("{} AS {}").format(f, sql.Identifier(f"_mendb_{i}")) for i, f in enumerate(fields)
    ]
    query = sql.SQL("COPY (SELECT {} FROM {} {} ORDER BY {}.{}) TO STDOUT (FORMAT BINARY)").format(
        sql.SQL(", ").join(aliased),
        table.identifier,
        joins,
        table.identifier,
        sql.Identifier(dataset.key),
    )
    layout = Layout(dtype, framing, features, labels or LabelCodes(), integer_key)
    return query, params + join_params, layout


def _embedding_joins(
    dataset: Dataset, table: TableRef, features: tuple[Feature, ...], models: dict[str, str]
) -> tuple[sql.Composable, list[Any]]:
    """One lateral join per text feature, bringing its current cached embedding
    as `_mendb_e{i}.v` (null when there is none for the row's current text)."""
    joins: list[sql.Composable] = []
    params: list[Any] = []
    for i, feature in enumerate(features, start=2):
        if feature.kind != "text":
            continue
        joins.append(
            sql.SQL(
                "LEFT JOIN LATERAL (SELECT e.embedding AS v FROM mendb.embeddings e"
                " WHERE e.dataset = %s AND e.column_name = %s AND e.model = %s"
                " AND e.table_name = %s AND e.row_key = {t}.{k}::text"
                " AND e.content_hash = mendb.content_hash({t}.{c}::text)) {alias} ON true"
            ).format(
                t=table.identifier,
                k=sql.Identifier(dataset.key),
                c=sql.Identifier(feature.name),
                alias=sql.Identifier(f"_mendb_e{i}"),
            )
        )
        params += [dataset.name, feature.name, models[feature.name], str(table)]
    return sql.SQL(" ").join(joins), params


def _read_keys(conn: psycopg.Connection[Any], dataset: Dataset, table: TableRef) -> list[str]:
    """The keys as text, in key order. The text format splits in bulk; it escapes
    only backslashes, control characters and nulls, and a stream with any of those
    is read again in binary form, where nothing is escaped."""
    key = sql.Identifier(dataset.key)
    query = sql.SQL("COPY (SELECT {k}::text FROM {t} ORDER BY {k}) TO STDOUT").format(
        k=key, t=table.identifier
    )
    data = bytearray()
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in copy:
            data += chunk
    if b"\\" not in data:
        return data.decode(conn.info.encoding).split("\n")[:-1]
    keys: list[str | None] = []
    binary = sql.SQL("{} (FORMAT BINARY)").format(query)
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


def _select_list(
    dataset: Dataset,
    table: TableRef,
    features: tuple[Feature, ...],
    classes: tuple[str, ...],
    categories: dict[str, tuple[str, ...]],
    labels: LabelCodes | None,
    integer_key: bool,
) -> tuple[list[sql.Composable], list[Any], np.dtype[Any], dict[str, int]]:
    """The fields, with their values bound, of the record `read_parts.Layout`
    describes; an integer label travels as itself, so the server does not look
    it up among the classes row by row."""
    key, label = sql.Identifier(dataset.key), sql.Identifier(dataset.label)
    nan = sql.SQL("'NaN'::float8")
    fields: list[sql.Composable] = []
    layout: list[tuple[Any, ...]] = [("count", ">i2")]
    framing: dict[str, int] = {"count": 0}  # its value is set once the fields are known
    if integer_key:
        fields.append(sql.SQL("{}.{}::int8").format(table.identifier, key))
        layout += [("keylen", ">i4"), ("key", ">i8")]
        framing["keylen"] = 8
    # The digest `mendb.split_unit` maps to [0, 1), sent as its hex text: the
    # mapping itself goes through numeric division and a float parse on the
    # server for every row, and `read_parts.split_units` does it in bulk.
    fields.append(sql.SQL("md5(%s::integer::text || ':' || {}::text)").format(key))
    params: list[Any] = [dataset.split.seed]
    layout += [("len0", ">i4"), ("f0", "u1", (32,))]
    if labels is not None:
        fields.append(sql.SQL("coalesce({}::int8, %s)").format(label))
        params.append(NULL_LABEL)
        layout += [("len1", ">i4"), ("f1", ">i8")]
    else:
        fields.append(
            sql.SQL("coalesce(array_position(%s::text[], {}::text), 0)::float8").format(label)
        )
        params.append(list(classes))
        layout += [("len1", ">i4"), ("f1", ">f8")]
    framing |= {"len0": 32, "len1": 8}
    for i, feature in enumerate(features, start=2):
        column = sql.Identifier(feature.name)
        if feature.kind == "text":
            column = sql.Identifier(f"_mendb_e{i}", "v")
        if feature.kind in ("vector", "text"):
            dim = int(feature.dim or 0)
            fields.append(
                sql.SQL("coalesce({c}, array_fill(0::real, ARRAY[%s])::vector)").format(c=column)
            )
            params.append(dim)
            fields.append(sql.SQL("({c} IS NULL)::int::float8").format(c=column))
            layout += [
                (f"len{i}", ">i4"),
                (f"dim{i}", ">i2"),
                (f"pad{i}", ">i2"),
                (f"f{i}", ">f4", (dim,)),
                (f"nlen{i}", ">i4"),
                (f"null{i}", ">f8"),
            ]
            framing |= {f"len{i}": 4 + 4 * dim, f"dim{i}": dim, f"pad{i}": 0, f"nlen{i}": 8}
        elif feature.kind == "categorical":
            fields.append(
                sql.SQL("coalesce(array_position(%s::text[], {c}::text)::float8, {nan})").format(
                    c=column, nan=nan
                )
            )
            params.append(list(categories[feature.name]))
            layout += [(f"len{i}", ">i4"), (f"f{i}", ">f8")]
            framing[f"len{i}"] = 8
        else:
            fields.append(sql.SQL("coalesce({c}::float8, {nan})").format(c=column, nan=nan))
            layout += [(f"len{i}", ">i4"), (f"f{i}", ">f8")]
            framing[f"len{i}"] = 8
    framing["count"] = len(fields)
    return fields, params, np.dtype(layout), framing


def _feature_layout(features: tuple[Feature, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names: list[str] = []
    kinds: list[str] = []
    for feature in features:
        if feature.kind in ("vector", "text"):
            names += [f"{feature.name}[{j}]" for j in range(int(feature.dim or 0))]
            kinds += ["vector"] * int(feature.dim or 0)
        else:
            names.append(feature.name)
            kinds.append(feature.kind)
    return tuple(names), tuple(kinds)
