"""Read a registered dataset into arrays with binary COPY.

Every feature is cast in SQL to a fixed-width binary field (float8, or pgvector's
own binary form for vectors), so the COPY stream is a sequence of equal-sized rows
that numpy parses in bulk with a structured dtype, a block at a time, instead of
row by row in Python. Nulls never become zeros: a null number or category becomes
NaN, a null vector is read as zeros plus a flag and then set to NaN; `missing`
marks them and `valuation.preprocess.prepare` imputes them.

Text columns contribute the embedding cached for their current content in
`mendb.embeddings` (`db/embeddings.py` fills it first), read in the same binary
form as a vector column, through a lateral join; a row with a null text, or no
embedding of its current text, reads as missing. Text columns without a model
are skipped and listed in `skipped_columns`.

Both COPYs (keys, then values) read one REPEATABLE READ snapshot in key order, so
they line up row for row, and the fingerprint identifies exactly the rows read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

from db.catalog import TableRef
from db.datasets import Dataset, Feature
from db.errors import InvalidDataset
from valuation.data import Split, TrainingArrays

_HEADER = 19  # PGCOPY signature (11) + flags (4) + header extension length (4)
_BLOCK = 1 << 22  # bytes parsed at a time


@dataclass(frozen=True)
class DatasetRead:
    """The arrays, plus what identifies the read. Free-text columns read without
    an embedding model are listed in `skipped_columns` so callers can say so."""

    arrays: TrainingArrays
    fingerprint: str
    rows_read: int
    skipped_columns: tuple[str, ...]


@dataclass(frozen=True)
class _TableBlock:
    keys: NDArray[np.object_]
    x: NDArray[np.float64]
    y: NDArray[np.int64]
    split_unit: NDArray[np.float64]


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
        for table in [dataset.table, *_extra_tables(dataset)]:
            _check_vector_dims(conn, dataset, table, usable)
        classes = _distinct(conn, dataset, dataset.label)
        categories = {
            f.name: _distinct(conn, dataset, f.name, dataset.table)
            for f in usable
            if f.kind == "categorical"
        }
        models = {name: model for name, (model, _) in embeddings.items()}
        main = _read_table(
            conn, dataset, dataset.table, usable, classes, categories, models, digest
        )
        extra = None
        for extra_ref in _extra_tables(dataset):
            extra = _read_table(
                conn, dataset, extra_ref, usable, classes, categories, models, digest
            )
    train, valid, test = _split(dataset, main, extra)
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
    rows = len(main.keys) + (len(extra.keys) if extra else 0)
    return DatasetRead(arrays, digest.hexdigest(), rows, skipped)


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
    features: tuple[Feature, ...],
    classes: tuple[str, ...],
    categories: dict[str, tuple[str, ...]],
    models: dict[str, str],
    digest: Any,
) -> _TableBlock:
    key = sql.Identifier(dataset.key)
    keys = _read_keys(conn, table, key, digest)
    fields, params, dtype = _select_list(dataset, features, classes, categories)
    joins, join_params = _embedding_joins(dataset, table, features, models)
    # Output columns get aliases of their own so that ORDER BY names the table's
    # key column, never an output column that happens to share its name.
    aliased = [
        sql.SQL("{} AS {}").format(f, sql.Identifier(f"_mendb_{i}")) for i, f in enumerate(fields)
    ]
    query = sql.SQL("COPY (SELECT {} FROM {} {} ORDER BY {}.{}) TO STDOUT (FORMAT BINARY)").format(
        sql.SQL(", ").join(aliased), table.identifier, joins, table.identifier, key
    )
    records = _parse_binary(conn, query, params + join_params, dtype, len(keys), digest)
    split_unit, label_code = records["f0"].astype(np.float64), records["f1"].astype(np.int64) - 1
    if (label_code < 0).any():
        row = keys[int(np.argmax(label_code < 0))]
        raise InvalidDataset(
            f"label column {dataset.label!r} of {table} is null in row {row!r}",
            table=str(table),
            column=dataset.label,
            row=str(row),
        )
    x = _features_matrix(records, features)
    return _TableBlock(keys, x, label_code, split_unit)


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


def _read_keys(
    conn: psycopg.Connection[Any], table: TableRef, key: sql.Identifier, digest: Any
) -> NDArray[np.object_]:
    query = sql.SQL(
        "COPY (SELECT {k}::text AS _mendb_key FROM {t} ORDER BY {k}) TO STDOUT (FORMAT BINARY)"
    )
    keys: list[str] = []
    with conn.cursor() as cur, cur.copy(query.format(k=key, t=table.identifier)) as copy:
        copy.set_types(["text"])
        keys.extend(row[0] for row in copy.rows())
    array = np.array(keys, dtype=object)
    digest.update("\x1f".join(keys).encode())
    return array


def _select_list(
    dataset: Dataset,
    features: tuple[Feature, ...],
    classes: tuple[str, ...],
    categories: dict[str, tuple[str, ...]],
) -> tuple[list[sql.Composable], list[Any], np.dtype[Any]]:
    key, label = sql.Identifier(dataset.key), sql.Identifier(dataset.label)
    nan = sql.SQL("'NaN'::float8")
    fields: list[sql.Composable] = [
        sql.SQL("mendb.split_unit(%s, {}::text)").format(key),
        sql.SQL("coalesce(array_position(%s::text[], {}::text), 0)::float8").format(label),
    ]
    params: list[Any] = [dataset.split.seed, list(classes)]
    layout: list[tuple[Any, ...]] = [("count", ">i2")]
    for i in range(2):
        layout += [(f"len{i}", ">i4"), (f"f{i}", ">f8")]
    for i, feature in enumerate(features, start=2):
        column = sql.Identifier(feature.name)
        if feature.kind == "text":
            column = sql.Identifier(f"_mendb_e{i}", "v")
        if feature.kind in ("vector", "text"):
            dim = int(feature.dim or 0)
            fields.append(
                sql.SQL("coalesce({c}, array_fill(0::real, ARRAY[%s])::vector)").format(c=column)
            )
            fields.append(sql.SQL("({c} IS NULL)::int::float8").format(c=column))
            params.append(dim)
            layout += [
                (f"len{i}", ">i4"),
                (f"dim{i}", ">i2"),
                (f"pad{i}", ">i2"),
                (f"f{i}", ">f4", (dim,)),
                (f"nlen{i}", ">i4"),
                (f"null{i}", ">f8"),
            ]
        elif feature.kind == "categorical":
            fields.append(
                sql.SQL("coalesce(array_position(%s::text[], {c}::text)::float8, {nan})").format(
                    c=column, nan=nan
                )
            )
            params.append(list(categories[feature.name]))
            layout += [(f"len{i}", ">i4"), (f"f{i}", ">f8")]
        else:
            fields.append(sql.SQL("coalesce({c}::float8, {nan})").format(c=column, nan=nan))
            layout += [(f"len{i}", ">i4"), (f"f{i}", ">f8")]
    return fields, params, np.dtype(layout)


def _parse_binary(
    conn: psycopg.Connection[Any],
    query: sql.Composed,
    params: list[Any],
    dtype: np.dtype[Any],
    n_rows: int,
    digest: Any,
) -> NDArray[Any]:
    out = np.empty(n_rows, dtype=dtype)
    filled, skip, pending = 0, _HEADER, bytearray()
    with conn.cursor() as cur, cur.copy(query, params) as copy:
        for chunk in copy:
            pending += chunk
            if len(pending) >= _BLOCK:
                filled, skip = _consume(pending, out, filled, skip, dtype, digest)
        filled, skip = _consume(pending, out, filled, skip, dtype, digest)
    if filled != n_rows:
        raise RuntimeError(f"COPY returned {filled} rows, expected {n_rows}")
    return out


def _consume(
    pending: bytearray,
    out: NDArray[Any],
    filled: int,
    skip: int,
    dtype: np.dtype[Any],
    digest: Any,
) -> tuple[int, int]:
    if skip:
        taken = min(skip, len(pending))
        del pending[:taken]
        skip -= taken
    rows = min(len(pending) // dtype.itemsize, len(out) - filled)
    if rows:
        size = rows * dtype.itemsize
        block = bytes(pending[:size])
        digest.update(block)
        out[filled : filled + rows] = np.frombuffer(block, dtype=dtype)
        del pending[:size]
    return filled + rows, skip


def _features_matrix(records: NDArray[Any], features: tuple[Feature, ...]) -> NDArray[np.float64]:
    columns: list[NDArray[np.float64]] = []
    for i, feature in enumerate(features, start=2):
        values = records[f"f{i}"].astype(np.float64)
        if feature.kind in ("vector", "text"):
            values = values.reshape(len(records), -1)
            values[records[f"null{i}"] == 1.0] = np.nan
            columns.extend(values.T)
        else:
            columns.append(values)
    return np.column_stack(columns) if columns else np.zeros((len(records), 0))


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


def _split(
    dataset: Dataset, main: _TableBlock, extra: _TableBlock | None
) -> tuple[Split, Split, Split]:
    spec = dataset.split
    if extra is None:
        valid = main.split_unit < spec.validation_fraction
        test = ~valid & (main.split_unit < spec.validation_fraction + spec.test_fraction)
        train = ~valid & ~test
        parts = [(main, train), (main, valid), (main, test)]
    else:
        share = spec.validation_fraction / (spec.validation_fraction + spec.test_fraction)
        valid = extra.split_unit < share
        parts = [(main, np.ones(len(main.keys), bool)), (extra, valid), (extra, ~valid)]
    return tuple(Split(b.x[m], b.y[m], b.keys[m]) for b, m in parts)  # type: ignore[return-value]
