"""The database: its URL, psql on it, migrations, grants, removal, the embedded server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import psycopg

from mendb.db import embedded, privileges
from mendb.db.catalog import TableRef
from mendb.db.datasets import registered_tables
from mendb.db.engine import libpq_url
from mendb.db.migrate import available, change_triggers, installed, migrate, uninstall
from mendb.server.cli._common import cli, command, emit, open_app
from mendb.server.settings import Settings


@cli.group()
def db() -> None:
    """The database: URL, migrations, the embedded server."""


@command(db, "url")
def db_url(as_json: bool) -> None:
    """Print a URL that psql accepts (starts the embedded server if needed)."""
    with open_app() as app:
        emit({"url": app.url}, as_json, lambda: click.echo(app.url))


@command(db, "psql")
def db_psql(as_json: bool) -> None:
    """Open psql on mendb's database (the embedded server's own psql if none is installed)."""
    with open_app() as app:
        url = app.url
    binary = embedded.psql_binary()
    os.execv(str(binary), [str(binary), url])


@command(db, "migrate")
@click.option("--list", "only_list", is_flag=True, help="Only list migrations; change nothing.")
def db_migrate(as_json: bool, only_list: bool) -> None:
    """Apply pending migrations (every command does this on its own)."""
    with open_app() as app, app.connection() as conn:
        applied = [] if only_list else migrate(conn)
        versions = [f"{m.version}_{m.name}" for m in available()]
    emit(
        {"migrations": versions, "applied_now": [m.version for m in applied]},
        as_json,
        lambda: click.echo("\n".join(versions)),
    )


@command(db, "stop")
def db_stop(as_json: bool) -> None:
    """Stop the embedded PostgreSQL server."""
    stopped = embedded.stop(Settings().home)
    emit(
        {"stopped": stopped},
        as_json,
        lambda: click.echo("stopped" if stopped else "the embedded server was not running"),
    )


@contextmanager
def _bare_connection() -> Iterator[psycopg.Connection[Any]]:
    """A connection that applies no migration: the commands below must work where
    mendb is not (or no longer) installed, or may not be by this role."""
    settings = Settings()
    url = settings.database_url or embedded.start(settings.home)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        yield conn


def _database_name(conn: psycopg.Connection[Any]) -> str:
    return conn.info.dbname


@command(db, "grants")
@click.argument("role")
@click.option(
    "--table",
    "tables",
    multiple=True,
    help="A table (schema.table) the role will register; repeatable. Registered ones are included.",
)
def db_grants(as_json: bool, role: str, tables: tuple[str, ...]) -> None:
    """Print the SQL that lets ROLE, not a superuser, run mendb on this database."""
    with _bare_connection() as conn:
        refs = list(
            dict.fromkeys([*(TableRef.parse(t) for t in tables), *registered_tables(conn)])
        )
        database = _database_name(conn)
        text = privileges.grants_sql(conn, role, database, refs)
    emit(
        {"role": role, "database": database, "tables": [str(r) for r in refs], "sql": text},
        as_json,
        lambda: click.echo(text),
    )


@command(db, "uninstall")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_uninstall(as_json: bool, yes: bool) -> None:
    """Drop mendb's triggers from registered tables and its schema (registrations,
    scores, the repair audit). The tables keep their rows; pgvector stays."""
    with _bare_connection() as conn:
        database = _database_name(conn)
        if not installed(conn):
            emit(
                {"database": database, "triggers_dropped": [], "schema_dropped": False},
                as_json,
                lambda: click.echo(f"mendb is not installed in database {database}"),
            )
            return
        if not yes:
            triggers = change_triggers(conn)
            listed = "".join(f"\n  trigger {t}" for t in triggers)
            click.confirm(
                f"Drop schema mendb in database {database} (every registration, score and"
                f" repair record) and mendb's triggers:{listed or ' none'}\nContinue?",
                abort=True,
                err=True,
            )
        dropped = uninstall(conn)
    emit(
        {"database": database, "triggers_dropped": dropped, "schema_dropped": True},
        as_json,
        lambda: click.echo(
            "\n".join([*(f"dropped trigger {t}" for t in dropped), "dropped schema mendb"])
        ),
    )
