"""Apply the plain-SQL migrations in `migrations/`, in order, once each.

Each file runs in one transaction together with its row in
`mendb.schema_migrations`; a transaction-level advisory lock makes two processes
starting at once apply each file exactly once. The grants they need are checked
first, so that a role without them gets an error naming the grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from mendb.db import privileges
from mendb.db.errors import MissingPrivilege
from mendb.db.queries import query

_LOCK_KEY = 0x6D656E6462  # "mendb"


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str


def available() -> list[Migration]:
    files = resources.files("mendb.migrations")
    found = []
    for entry in sorted(files.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(version, rest.removesuffix(".sql"), entry.read_text()))
    return found


def applied(conn: psycopg.Connection[Any]) -> set[str]:
    exists = conn.execute(query("migrate_tracking_exists")).fetchone()
    if exists is None or not exists[0]:
        return set()
    return {row[0] for row in conn.execute(query("migrate_applied_versions"))}


def pending(conn: psycopg.Connection[Any]) -> list[Migration]:
    done = applied(conn)
    return [m for m in available() if m.version not in done]


def migrate(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Apply every pending migration; returns those applied by this call."""
    done: list[Migration] = []
    privileges.check_can_read_schema(conn)
    waiting = [m.version for m in pending(conn)]
    if not waiting:
        # Even CREATE ... IF NOT EXISTS checks CREATE rights first, which a role that
        # only uses an installed schema need not hold.
        return done
    privileges.check_can_migrate(conn, waiting)
    with conn.transaction():
        conn.execute(query("migrate_lock"), {"key": _LOCK_KEY})
        conn.execute(query("migrate_create_schema"))
        conn.execute(query("migrate_create_tracking"))
        for migration in pending(conn):
            with conn.transaction():
                # A migration file is a script of many statements, run as it is.
                conn.execute(migration.sql.encode())
                conn.execute(
                    query("migrate_record"), {"version": migration.version, "name": migration.name}
                )
            done.append(migration)
    return done


def change_triggers(conn: psycopg.Connection[Any]) -> list[str]:
    """mendb's triggers on tables outside its schema, as 'schema.table.trigger'."""
    rows = conn.execute(query("migrate_change_triggers")).fetchall()
    return [".".join(row) for row in rows]


def installed(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(query("migrate_installed")).fetchone()
    return bool(row and row[0])


def uninstall(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop schema mendb and, with it, every trigger that calls its functions (the
    change triggers on registered tables); returns those triggers. The tables and
    their rows are left as they are. Only the schema's owner or a superuser may."""
    with conn.transaction():
        conn.execute(query("migrate_lock"), {"key": _LOCK_KEY})
        owner = privileges.schema_owner(conn)
        if owner is None:
            return []
        if not owner[1]:
            raise MissingPrivilege(
                f"schema mendb belongs to role {owner[0]}: run `mendb db uninstall` as"
                f" {owner[0]} or a superuser"
            )
        triggers = change_triggers(conn)
        conn.execute(query("migrate_drop_schema"))
    return triggers
