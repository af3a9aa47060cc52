"""Migrations: the schema the code expects, idempotent, safe to race."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from mendb.db.migrate import available, migrate, pending


def catalog(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
        " WHERE n.nspname = 'mendb' ORDER BY 1, 3"
    ).fetchall()


def test_migrations_create_the_schema_and_vector(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        applied = migrate(conn)
        assert [m.version for m in applied] == [m.version for m in available()]
        tables = {row[0] for row in catalog(conn)}
        assert {"datasets", "runs", "scores", "repairs", "repair_events", "row_values"} <= tables
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()


def test_running_twice_changes_nothing(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        migrate(conn)
        before = catalog(conn)
        assert migrate(conn) == []
        assert pending(conn) == []
        assert catalog(conn) == before


def test_two_processes_starting_at_once_do_not_race(empty_dsn: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            with psycopg.connect(empty_dsn, autocommit=True) as conn:
                barrier.wait()
                results.append([m.version for m in migrate(conn)])
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results, key=len) == [[], [m.version for m in available()]]
    with psycopg.connect(empty_dsn) as conn:
        count = conn.execute("SELECT count(*) FROM mendb.schema_migrations").fetchone()
        assert count is not None and count[0] == len(available())
