"""User-given table and column names, checked against the catalog before any use.

Every check reads `pg_catalog` on the caller's connection, so it sees what the
caller's transaction sees. Only names that exist come back, as
`psycopg.sql.Identifier`s; a missing table or column raises an error that names it.
Column kinds come from the column types (`catalog_columns` in `sql/catalog.sql`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from mendb.db import privileges
from mendb.db.errors import MendbError, UnknownColumn, UnknownRelation
from mendb.db.queries import query

Kind = Literal["numeric", "categorical", "vector", "text", "other"]


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str

    @classmethod
    def parse(cls, qualified: str) -> TableRef:
        """'schema.table' or 'table' (schema public)."""
        parts = qualified.split(".")
        if len(parts) == 1 and parts[0]:
            return cls("public", parts[0])
        if len(parts) == 2 and all(parts):
            return cls(parts[0], parts[1])
        raise MendbError(
            f"table name {qualified!r} is not of the form schema.table", table=qualified
        )

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type_name: str
    kind: Kind
    nullable: bool
    dim: int | None = None

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.name)


def resolve_table(conn: psycopg.Connection[Any], qualified: str) -> TableRef:
    """The table, once it is known to exist and mendb's role may read it."""
    ref = TableRef.parse(qualified)
    if not relation_exists(conn, ref):
        raise UnknownRelation(f"table {ref} does not exist", table=str(ref))
    privileges.require_on_table(conn, ref, ["SELECT"], "read it")
    return ref


def relation_exists(conn: psycopg.Connection[Any], ref: TableRef) -> bool:
    """A table or view of that name exists (whether this role may read it or not)."""
    row = conn.execute(
        query("catalog_relation_exists"), {"schema": ref.schema, "name": ref.name}
    ).fetchone()
    return bool(row and row[0])


def table_columns(conn: psycopg.Connection[Any], ref: TableRef) -> dict[str, ColumnInfo]:
    """Every column of the table, in table order; none for a table that is gone."""
    with conn.cursor(row_factory=class_row(ColumnInfo)) as cur:
        found = cur.execute(
            query("catalog_columns"), {"schema": ref.schema, "name": ref.name}
        ).fetchall()
    return {column.name: column for column in found}


def integer_columns(conn: psycopg.Connection[Any], ref: TableRef, names: list[str]) -> set[str]:
    """Which of `names` are columns of an integer type."""
    found = conn.execute(
        query("catalog_integer_columns"),
        {"schema": ref.schema, "name": ref.name, "columns": names},
    )
    return {str(row[0]) for row in found}


def resolve_columns(
    conn: psycopg.Connection[Any], ref: TableRef, names: list[str]
) -> list[ColumnInfo]:
    columns = table_columns(conn, ref)
    resolved = []
    for name in names:
        if name not in columns:
            raise UnknownColumn(
                f"column {name!r} does not exist in table {ref}", table=str(ref), column=name
            )
        resolved.append(columns[name])
    return resolved
