"""The database: its URL, psql on it, migrations, the embedded server."""

from __future__ import annotations

import os

import click

from db import embedded
from db.migrate import available, migrate
from server.cli._common import cli, command, emit, open_app
from server.settings import Settings


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
