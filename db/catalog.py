"""User-given table and column names, checked against the catalog before any use.

Only names that exist come back, as `psycopg.sql.Identifier`s; a missing table or
column raises an error that names it. Column kinds come from the column types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pgvector.sqlalchemy
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Engine

from mendb.db import privileges
from mendb.db.engine import connection
from mendb.db.errors import MendbError, UnknownColumn, UnknownRelation

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


def resolve_table(engine: Engine, qualified: str) -> TableRef:
    """The table, once it is known to exist and mendb's role may read it."""
    ref = TableRef.parse(qualified)
    inspector = sa.inspect(engine)
    if not (inspector.has_table(ref.name, schema=ref.schema) or _is_view(inspector, ref)):
        raise UnknownRelation(f"table {ref} does not exist", table=str(ref))
    with connection(engine) as conn:
        privileges.require_on_table(conn, ref, ["SELECT"], "read it")
    return ref


def _is_view(inspector: sa.Inspector, ref: TableRef) -> bool:
    try:
        return ref.name in inspector.get_view_names(schema=ref.schema)
    except sa.exc.NoSuchTableError:
        return False


def table_columns(engine: Engine, ref: TableRef) -> dict[str, ColumnInfo]:
    """Every column of the table, in table order."""
    inspector = sa.inspect(engine)
    columns = {}
    for column in inspector.get_columns(ref.name, schema=ref.schema):
        column_type = column["type"]
        columns[column["name"]] = ColumnInfo(
            name=column["name"],
            type_name=str(column_type.compile(dialect=engine.dialect)).lower(),
            kind=_kind_of(column_type),
            nullable=bool(column["nullable"]),
            dim=getattr(column_type, "dim", None),
        )
    return columns


def resolve_columns(engine: Engine, ref: TableRef, names: list[str]) -> list[ColumnInfo]:
    columns = table_columns(engine, ref)
    resolved = []
    for name in names:
        if name not in columns:
            raise UnknownColumn(
                f"column {name!r} does not exist in table {ref}", table=str(ref), column=name
            )
        resolved.append(columns[name])
    return resolved


def _kind_of(column_type: sa.types.TypeEngine[object]) -> Kind:
    if isinstance(column_type, pgvector.sqlalchemy.VECTOR):
        return "vector"
    if isinstance(column_type, sa.Boolean | sa.Enum):
        return "categorical"
    if isinstance(column_type, sa.Integer | sa.Numeric | sa.Float):
        return "numeric"
    if isinstance(column_type, sa.String):
        # Text or categorical: decided by the data (see db.datasets.infer_kinds).
        return "text"
    return "other"
