"""Apply the plain-SQL migrations in `migrations/`, in order, once each.

Each file runs in one transaction together with its row in
`mendb.schema_migrations`; a transaction-level advisory lock makes two processes
starting at once apply each file exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

_LOCK_KEY = 0x6D656E6462  # "mendb"


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str


def available() -> list[Migration]:
    files = resources.files("migrations")
    found = []
    for entry in sorted(files.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(version, rest.removesuffix(".sql"), entry.read_text()))
    return found


def applied(conn: psycopg.Connection[Any]) -> set[str]:
    exists = conn.execute("SELECT to_regclass('mendb.schema_migrations')").fetchone()
    if exists is None or exists[0] is None:
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM mendb.schema_migrations")}


def pending(conn: psycopg.Connection[Any]) -> list[Migration]:
    done = applied(conn)
    return [m for m in available() if m.version not in done]


def migrate(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Apply every pending migration; returns those applied by this call."""
    done: list[Migration] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        conn.execute("CREATE SCHEMA IF NOT EXISTS mendb")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS mendb.schema_migrations ("
            " version text PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in pending(conn):
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO mendb.schema_migrations (version, name) VALUES (%s, %s)",
                    [migration.version, migration.name],
                )
            done.append(migration)
    return done
