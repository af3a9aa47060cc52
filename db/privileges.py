"""What mendb's database role may do, checked in the catalog before acting.

mendb runs as an ordinary role. Each check here reads `pg_catalog` and the
`has_*_privilege` functions, so a missing grant is reported by name (with the SQL
that gives it) before a statement fails half-way with PostgreSQL's bare
"permission denied". `grants_sql` prints every grant at once for an operator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from mendb.db.errors import MissingExtension, MissingPrivilege, UnknownRelation
from mendb.db.queries import query

if TYPE_CHECKING:
    from mendb.db.catalog import TableRef

SCHEMA = "mendb"
# What mendb does with a registered table: read it, write repairs into it, and
# attach the change trigger.
TABLE_PRIVILEGES = ("SELECT", "UPDATE", "TRIGGER")
CHANGE_FUNCTION = "mendb.record_row_change()"
PGVECTOR_INSTALL = "https://github.com/pgvector/pgvector#installation"


def _one(
    conn: psycopg.Connection[Any], statement: sql.SQL, params: Mapping[str, Any] | None = None
) -> Any:
    row = conn.execute(statement, params).fetchone()
    assert row is not None
    return row[0]


def _render(conn: psycopg.Connection[Any], statement: sql.Composable) -> str:
    """A statement printed for a person to run, ended as psql wants it."""
    return statement.as_string(conn) + ";"


def current_role(conn: psycopg.Connection[Any]) -> str:
    return str(_one(conn, query("privileges_current_role")))


def check_can_read_schema(conn: psycopg.Connection[Any]) -> None:
    """Where schema mendb exists, the current role can at least read which migrations
    it holds; otherwise every command would stop at PostgreSQL's bare refusal."""
    row = conn.execute(query("privileges_schema_readable"), {"schema": SCHEMA}).fetchone()
    if row is None or row[2]:
        return
    owner, _, _ = row
    role = current_role(conn)
    raise MissingPrivilege(
        f"role {role} may not read schema {SCHEMA}, which belongs to role {owner}: run mendb"
        f" as {owner}, or see `mendb db grants` for the grants a role of its own needs"
    )


def check_can_migrate(conn: psycopg.Connection[Any], pending: Sequence[str]) -> None:
    """Before applying the `pending` migration versions: the schema can be created
    (CREATE on the database) or altered (its owner), and pgvector exists or can be
    created. Nothing pending asks for nothing."""
    if not pending:
        return
    role = current_role(conn)
    database = str(_one(conn, query("privileges_current_database")))
    superuser = bool(_one(conn, query("privileges_is_superuser")))
    owner = schema_owner(conn)
    may_create = bool(_one(conn, query("privileges_may_create_schema")))
    if owner is None and not may_create:
        grant = query("privileges_grant_create_on_database").format(
            database=sql.Identifier(database), role=sql.Identifier(role)
        )
        raise MissingPrivilege(
            f"role {role} lacks CREATE on database {database}, which mendb needs to create"
            f" its schema {SCHEMA}: the database's owner or a superuser runs"
            f" `{_render(conn, grant)}` (see `mendb db grants {role}`)"
        )
    if owner is not None and not owner[1] and not superuser:
        raise MissingPrivilege(
            f"schema {SCHEMA} belongs to role {owner[0]}, and migrations"
            f" {', '.join(pending)} change it: run `mendb db migrate` as {owner[0]}"
            f" (or a superuser) once, then role {role} can go on"
        )
    _check_vector(conn, role, database, superuser, may_create)


def schema_owner(conn: psycopg.Connection[Any]) -> tuple[str, bool] | None:
    """Who owns schema mendb, and whether the current role acts as its owner; None
    where it does not exist."""
    row = conn.execute(query("privileges_schema_owner"), {"schema": SCHEMA}).fetchone()
    return None if row is None else (str(row[0]), bool(row[1]))


def _check_vector(
    conn: psycopg.Connection[Any], role: str, database: str, superuser: bool, may_create: bool
) -> None:
    if _one(conn, query("privileges_vector_created")):
        return
    available = conn.execute(query("privileges_vector_available")).fetchone()
    create = f"CREATE EXTENSION vector; in database {database}"
    if available is None:
        raise MissingExtension(
            f"the vector extension (pgvector) is not installed on the PostgreSQL server of"
            f" database {database}: the server's administrator installs pgvector"
            f" ({PGVECTOR_INSTALL}), then a superuser runs `{create}`"
        )
    needs_superuser, trusted = available
    if superuser or not needs_superuser or (trusted and may_create):
        return
    raise MissingExtension(
        f"the vector extension is not created in database {database}, and role {role} may"
        f" not create it (only a superuser may): a superuser runs `{create}`, then mendb"
        " goes on as it is"
    )


def missing_on_table(
    conn: psycopg.Connection[Any], ref: TableRef, privileges: Iterable[str]
) -> tuple[str, list[str]]:
    """The table's owner and which of `privileges` the current role lacks on it
    (USAGE on its schema counts as one)."""
    row = conn.execute(
        query("privileges_table"), {"schema": ref.schema, "name": ref.name}
    ).fetchone()
    if row is None:
        raise UnknownRelation(f"table {ref} does not exist", table=str(ref))
    oid, owner, usage = row
    missing = [] if usage else ["USAGE"]
    for privilege in privileges:
        asked = {"oid": oid, "privilege": privilege}
        if not _one(conn, query("privileges_has_table_privilege"), asked):
            missing.append(privilege)
    return str(owner), missing


def require_on_table(
    conn: psycopg.Connection[Any], ref: TableRef, privileges: Sequence[str], purpose: str
) -> None:
    """Raise MissingPrivilege naming each grant on the table (and its schema) that the
    current role lacks for `purpose`."""
    owner, missing = missing_on_table(conn, ref, privileges)
    if not missing:
        return
    role = current_role(conn)
    statements = []
    if "USAGE" in missing:
        statements.append(
            query("privileges_grant_usage_on_schema").format(
                schema=sql.Identifier(ref.schema), role=sql.Identifier(role)
            )
        )
    on_table = [p for p in missing if p != "USAGE"]
    if on_table:
        statements.append(_grant_on_table(ref.identifier, on_table, sql.Identifier(role)))
    names = " and ".join(
        [f"USAGE on schema {ref.schema}" for p in missing if p == "USAGE"]
        + ([f"{', '.join(on_table)} on table {ref}"] if on_table else [])
    )
    raise MissingPrivilege(
        f"role {role} lacks {names}, which mendb needs to {purpose}: {owner} (the table's"
        f" owner) or a superuser runs `{' '.join(_render(conn, s) for s in statements)}`",
        table=str(ref),
    )


def require_trigger_function(conn: psycopg.Connection[Any]) -> None:
    """The change trigger's function may be attached only by roles granted EXECUTE
    on it: its owner, who ran the migrations, and those the owner names."""
    if _one(conn, query("privileges_may_execute_change_function")):
        return
    owner = _one(conn, query("privileges_change_function_owner"))
    role = current_role(conn)
    grant = query("privileges_grant_execute_change_function").format(role=sql.Identifier(role))
    raise MissingPrivilege(
        f"role {role} lacks EXECUTE on function {CHANGE_FUNCTION}, which mendb needs to"
        f" attach its change trigger: {owner} (who installed mendb) or a superuser runs"
        f" `{_render(conn, grant)}`"
    )


def _grant_on_table(
    table: sql.Composable, privileges: Iterable[str], role: sql.Composable
) -> sql.Composed:
    # The privileges are keywords from mendb's own lists, never a user's text.
    keywords = sql.SQL(", ").join(sql.SQL(p) for p in privileges)
    return query("privileges_grant_on_table").format(privileges=keywords, table=table, role=role)


def grants_sql(
    conn: psycopg.Connection[Any], role: str, database: str, tables: Sequence[TableRef]
) -> str:
    """The SQL, for a superuser or the owners, that lets `role` (not a superuser)
    run mendb on `database` and on each of `tables`."""
    role_id = sql.Identifier(role)
    # Examples for tables not named yet: placeholders a person replaces.
    any_schema, any_table = sql.SQL("<schema>"), sql.SQL("<schema>.<table>")
    lines = [
        f"-- mendb as role {role} on database {database}: run as a superuser.",
        "-- " + _render(conn, query("privileges_create_role").format(role=role_id))
        + "  -- unless it exists",
        "-- pgvector is not a trusted extension, so a superuser creates it once:",
        "CREATE EXTENSION IF NOT EXISTS vector;",
        "-- mendb creates and owns its schema, mendb (migrations, the change trigger):",
        _render(
            conn,
            query("privileges_grant_connect_create_on_database").format(
                database=sql.Identifier(database), role=role_id
            ),
        ),
    ]
    if tables:
        lines.append(
            "-- each registered table: read it, apply repairs (UPDATE), record changed rows"
            " (TRIGGER):"
        )
    for schema in dict.fromkeys(ref.schema for ref in tables):
        grant = query("privileges_grant_usage_on_schema").format(
            schema=sql.Identifier(schema), role=role_id
        )
        lines.append(_render(conn, grant))
    for ref in tables:
        lines.append(_render(conn, _grant_on_table(ref.identifier, TABLE_PRIVILEGES, role_id)))
    if not tables:
        example_schema = query("privileges_grant_usage_on_schema").format(
            schema=any_schema, role=role_id
        )
        example_table = _grant_on_table(any_table, TABLE_PRIVILEGES, role_id)
        lines += [
            "-- then, for each table to register (name it with --table to have it here):",
            "-- " + _render(conn, example_schema),
            "-- " + _render(conn, example_table),
        ]
    return "\n".join(lines)
