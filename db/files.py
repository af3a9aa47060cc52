"""File exchange through DuckDB: CSV or Parquet into a new table, scores and repairs
out to a file for a notebook."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from mendb.db.catalog import TableRef
from mendb.db.errors import Conflict, MendbError
from mendb.db.queries import query

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

# duckdb and pyarrow are imported by the functions that use them: every command
# imports this module, and only `import` and `export` need them.

# DuckDB type -> PostgreSQL type, by the name pg_type gives it (so that it can be
# written as an identifier); anything else is stored as text.
_TYPES = {
    "BOOLEAN": "bool", "TINYINT": "int2", "SMALLINT": "int2", "INTEGER": "int4",
    "BIGINT": "int8", "HUGEINT": "numeric", "UTINYINT": "int2", "USMALLINT": "int4",
    "UINTEGER": "int8", "UBIGINT": "numeric", "FLOAT": "float4", "DOUBLE": "float8",
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
    import duckdb

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
        columns, types = [GENERATED_KEY, *columns], ["int8", *types]
    # Each column definition is two identifiers: its name and its type's name.
    definitions = sql.SQL(", ").join(
        sql.SQL(" ").join([sql.Identifier(c), sql.Identifier(t)])
        for c, t in zip(columns, types, strict=True)
    )
    with conn.transaction():
        exists = conn.execute(
            query("datasets_import_table_exists"), {"table": str(table)}
        ).fetchone()
        if exists and exists[0]:
            raise Conflict(f"table {table} already exists", table=str(table))
        conn.execute(
            query("datasets_import_create_table").format(
                table=table.identifier,
                columns=definitions,
                key=sql.Identifier(key or GENERATED_KEY),
            )
        )
        copy_sql = query("datasets_import_copy").format(
            table=table.identifier, columns=sql.SQL(", ").join(map(sql.Identifier, columns))
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
    scores = _arrow(conn, query("report_export_scores"), {"dataset": dataset})
    repairs = _arrow(conn, query("report_export_repairs"), {"dataset": dataset})
    repairs_path = path.with_name(f"{path.stem}_repairs{path.suffix}")
    import duckdb

    con = duckdb.connect()
    for table, target in ((scores, path), (repairs, repairs_path)):
        relation = con.from_arrow(table)
        if target.suffix.lower() == ".csv":
            relation.write_csv(str(target))
        else:
            relation.write_parquet(str(target))
    return [path, repairs_path]


def _arrow(
    conn: psycopg.Connection[Any], statement: sql.SQL, params: dict[str, Any]
) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
    import pyarrow as pa

    return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
