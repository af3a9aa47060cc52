"""File exchange through DuckDB: CSV or Parquet into a new table, scores and repairs
out to a file for a notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
from psycopg import sql

from mendb.db.catalog import TableRef
from mendb.db.errors import Conflict, MendbError

# DuckDB type -> PostgreSQL type; anything else is stored as text.
_TYPES = {
    "BOOLEAN": "boolean", "TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer",
    "BIGINT": "bigint", "HUGEINT": "numeric", "UTINYINT": "smallint", "USMALLINT": "integer",
    "UINTEGER": "bigint", "UBIGINT": "numeric", "FLOAT": "real", "DOUBLE": "double precision",
    "DATE": "date", "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "VARCHAR": "text",
}  # fmt: skip
_BATCH = 50_000
GENERATED_KEY = "row_id"


def _relation(con: duckdb.DuckDBPyConnection, path: Path) -> duckdb.DuckDBPyRelation:
    if not path.exists():
        raise MendbError(f"file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return con.read_csv(str(path))
    if suffix in (".parquet", ".pq"):
        return con.read_parquet(str(path))
    raise MendbError(f"file {path} is not .csv or .parquet")


def import_file(
    conn: psycopg.Connection[Any], path: Path, table: TableRef, key: str | None = None
) -> int:
    """Create `table` with the file's inferred column types and fill it by binary
    COPY. Without `key`, a `row_id` column numbers the rows and is the primary key."""
    con = duckdb.connect()
    relation = _relation(con, path)
    columns = list(relation.columns)
    types = [_TYPES.get(str(t).upper(), "text") for t in relation.types]
    if key is not None and key not in columns:
        raise MendbError(
            f"key column {key!r} is not in {path} (columns: {', '.join(columns)})", column=key
        )
    if key is None:
        if GENERATED_KEY in columns:
            raise MendbError(f"{path} has a {GENERATED_KEY!r} column: name it with --key")
        relation = relation.select(duckdb.SQLExpression("row_number() OVER () AS row_id"), "*")
        columns, types = [GENERATED_KEY, *columns], ["bigint", *types]
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
        for c, t in zip(columns, types, strict=True)
    )
    with conn.transaction():
        exists = conn.execute("SELECT to_regclass(%s)", [str(table)]).fetchone()
        if exists and exists[0] is not None:
            raise Conflict(f"table {table} already exists", table=str(table))
        conn.execute(
            sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY ({}))").format(
                table.identifier, definition, sql.Identifier(key or GENERATED_KEY)
            )
        )
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            table.identifier, sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        rows = 0
        reader = relation.fetch_arrow_reader(batch_size=_BATCH)
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            copy.set_types(types)
            for batch in reader:
                for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                    copy.write_row(row)
                rows += batch.num_rows
    return rows


def export_results(conn: psycopg.Connection[Any], dataset: str, path: Path) -> list[Path]:
    """The dataset's latest scores (all methods) to `path`, and its repairs beside
    it as `<stem>_repairs<suffix>`; returns the files written."""
    if path.suffix.lower() not in (".parquet", ".csv"):
        raise MendbError(f"export file {path} must end in .parquet or .csv")
    scores = _arrow(
        conn,
        sql.SQL(
            "SELECT row_key, method, value, stderr, samples, rank, run_id, computed_at"
            " FROM mendb.row_values WHERE dataset = %s ORDER BY method, rank"
        ),
        [dataset],
    )
    repairs = _arrow(
        conn,
        sql.SQL(
            "SELECT id, run_id, row_key, column_name, old_value, new_value, kind, repairer,"
            " confidence, evidence::text AS evidence, status, created_at, status_at, status_by,"
            " applied_txid, reverted_txid FROM mendb.repairs WHERE dataset = %s ORDER BY id"
        ),
        [dataset],
    )
    repairs_path = path.with_name(f"{path.stem}_repairs{path.suffix}")
    con = duckdb.connect()
    for table, target in ((scores, path), (repairs, repairs_path)):
        relation = con.from_arrow(table)
        if target.suffix.lower() == ".csv":
            relation.write_csv(str(target))
        else:
            relation.write_parquet(str(target))
    return [path, repairs_path]


def _arrow(conn: psycopg.Connection[Any], query: sql.SQL, params: list[Any]) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(query, params)
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
    return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
