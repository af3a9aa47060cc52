"""The embedding cache `mendb.embeddings`: text columns embedded once per content.

`sync_text_column` reads (key, text, hash) by binary COPY, embeds only the rows
whose hash is new or changed, in batches with progress, and writes the vectors by
binary COPY into a temporary table merged in one transaction; rows gone from the
table lose their embedding. `PgvectorNeighbours` answers nearest-neighbour
queries inside PostgreSQL: HNSW (cosine) on large tables, exact search on small
ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from pgvector.psycopg import register_vector
from psycopg import sql

from mendb.db.catalog import TableRef
from mendb.db.datasets import Dataset
from mendb.db.errors import InvalidDataset
from mendb.db.queries import query

EXACT_BELOW = 2000  # rows of one cache below which search is exact
Encode = Callable[[list[str]], NDArray[np.float32]]


@dataclass(frozen=True)
class SyncReport:
    column: str
    model: str
    embedded: int
    unchanged: int
    removed: int
    null_rows: int


def tables_of(dataset: Dataset) -> list[TableRef]:
    tables = [dataset.table]
    if dataset.split.validation_table:
        tables.append(TableRef.parse(dataset.split.validation_table))
    return tables


def read_texts(
    conn: psycopg.Connection[Any], dataset: Dataset, column: str, table: TableRef
) -> list[tuple[str, str | None, str | None]]:
    """(key, text, content hash) of every row, by binary COPY."""
    statement = query("embeddings_read_texts").format(
        key=sql.Identifier(dataset.key), column=sql.Identifier(column), table=table.identifier
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(["text", "text", "text"])
        return [tuple(row) for row in copy.rows()]


def sync_text_column(
    conn: psycopg.Connection[Any],
    dataset: Dataset,
    column: str,
    model: str,
    encode: Encode,
    progress: Callable[[float], None] | None = None,
    batch: int = 256,
) -> SyncReport:
    register_vector(conn)
    per_table = {str(t): read_texts(conn, dataset, column, t) for t in tables_of(dataset)}
    _check_not_all_null(dataset, column, per_table)
    todo = [
        (table, key, text, digest)
        for table, rows in per_table.items()
        for key, text, digest in _stale(conn, dataset, column, model, table, rows)
    ]
    vectors = _encode(encode, [text for _, _, text, _ in todo], progress, batch)
    with conn.transaction():
        _write(conn, dataset.name, column, model, todo, vectors)
        removed = _remove_gone(conn, dataset.name, column, model, per_table)
    if len(vectors):
        ensure_index(conn, vectors.shape[1])
    total = sum(len(rows) for rows in per_table.values())
    nulls = sum(text is None for rows in per_table.values() for _, text, _ in rows)
    return SyncReport(column, model, len(todo), total - nulls - len(todo), removed, nulls)


def _check_not_all_null(
    dataset: Dataset, column: str, per_table: dict[str, list[tuple[str, Any, Any]]]
) -> None:
    rows = per_table[str(dataset.table)]
    if rows and all(text is None for _, text, _ in rows):
        raise InvalidDataset(
            f"text column {column!r} of {dataset.table} is null in every row (e.g. row"
            f" {rows[0][0]!r}); there is nothing to embed",
            table=str(dataset.table),
            column=column,
            row=rows[0][0],
        )


def _stale(
    conn: psycopg.Connection[Any],
    dataset: Dataset,
    column: str,
    model: str,
    table: str,
    rows: list[tuple[str, str | None, str | None]],
) -> list[tuple[str, str, str]]:
    cached = dict(
        conn.execute(
            query("embeddings_cached_hashes"),
            {"dataset": dataset.name, "column": column, "model": model, "table_name": table},
        ).fetchall()
    )
    return [
        (key, text, digest)
        for key, text, digest in rows
        if text is not None and digest is not None and cached.get(key) != digest
    ]


def _encode(
    encode: Encode, texts: list[str], progress: Callable[[float], None] | None, batch: int
) -> NDArray[np.float32]:
    parts = []
    for start in range(0, len(texts), batch):
        parts.append(np.asarray(encode(texts[start : start + batch]), dtype=np.float32))
        if progress is not None:
            progress(min(1.0, (start + batch) / len(texts)))
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def _write(
    conn: psycopg.Connection[Any],
    dataset: str,
    column: str,
    model: str,
    todo: list[tuple[str, str, str, str]],
    vectors: NDArray[np.float32],
) -> None:
    if not todo:
        return
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1) | ~vectors.any(axis=1))
    if len(bad):
        raise InvalidDataset(
            f"the encoder returned a NaN or all-zero vector for text column {column!r},"
            f" row {todo[bad[0]][1]!r}",
            table=todo[bad[0]][0],
            column=column,
            row=todo[bad[0]][1],
        )
    conn.execute(query("embeddings_create_staging"))
    with conn.cursor() as cur, cur.copy(query("embeddings_copy_staging")) as copy:
        copy.set_types(["text", "text", "text", "vector"])
        for (table, key, _, digest), vector in zip(todo, vectors, strict=True):
            copy.write_row([table, key, digest, vector])
    conn.execute(
        query("embeddings_merge_staging"), {"dataset": dataset, "column": column, "model": model}
    )


def _remove_gone(
    conn: psycopg.Connection[Any],
    dataset: str,
    column: str,
    model: str,
    per_table: dict[str, list[tuple[str, Any, Any]]],
) -> int:
    removed = 0
    for table, rows in per_table.items():
        keep = [key for key, text, _ in rows if text is not None]
        removed += conn.execute(
            query("embeddings_remove_gone"),
            {"dataset": dataset, "column": column, "model": model, "table_name": table,
             "keep": keep},
        ).rowcount
    return removed


def ensure_index(conn: psycopg.Connection[Any], dims: int) -> None:
    """The HNSW (cosine) index for vectors of `dims` dimensions."""
    dims = int(dims)
    # DDL takes no parameters: the dimension, an int, is written as a literal.
    conn.execute(
        query("embeddings_create_index").format(
            name=sql.Identifier(f"embeddings_hnsw_{dims}"), dims=sql.Literal(dims)
        )
    )
