"""The service: the HTTP API with its workers, and API tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from mendb.db import tokens as tokens_db
from mendb.db.tokens import SCOPES
from mendb.server.cli._common import cli, command, emit, handle_errors, open_app
from mendb.server.settings import Settings

if TYPE_CHECKING:
    # The service and the worker run valuations: imported by the commands that
    # start them, so that `token` starts without torch or scikit-learn.
    from mendb.server.worker import WorkerOptions


def _worker_flags(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--lease", default=30.0, show_default=True, help="Job lease, seconds."),
        click.option("--watch", is_flag=True, help="Revalue datasets whose rows changed."),
        click.option(
            "--watch-threshold", default=50, show_default=True, help="Changed rows to revalue at."
        ),
    ]):  # fmt: skip
        func = option(func)
    return func


def _worker_options(lease: float, watch: bool, watch_threshold: int) -> WorkerOptions:
    from mendb.server.worker import WorkerOptions

    return WorkerOptions(lease_seconds=lease, watch=watch, watch_threshold=watch_threshold)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(0, 64),
    help="Worker processes beside the API (0: API only).",
)
@_worker_flags
@handle_errors
def serve(
    host: str, port: int, workers: int, lease: float, watch: bool, watch_threshold: int
) -> None:
    """Run the HTTP API (OpenAPI at /docs) and worker processes for queued runs."""
    from mendb.server.serve import serve as run_service

    options = _worker_options(lease, watch, watch_threshold)
    run_service(Settings(), host, port, workers, options)


@cli.command()
@_worker_flags
@handle_errors
def worker(lease: float, watch: bool, watch_threshold: int) -> None:
    """Run one worker process without the HTTP API (to add workers elsewhere)."""
    from mendb.server.worker import main as run_worker

    run_worker(Settings(), _worker_options(lease, watch, watch_threshold))


@cli.group()
def token() -> None:
    """API tokens: create (the token is shown once), list, revoke."""


@command(token, "create")
@click.option(
    "--name", required=True, help="Who uses it, as the audit trail names it; never reused."
)
@click.option("--scope", type=click.Choice(SCOPES), default="read", show_default=True)
def token_create(as_json: bool, name: str, scope: str) -> None:
    """Create a token and print it once; only its hash is stored."""
    with open_app() as app, app.connection() as conn:
        created, secret = tokens_db.create(conn, name, scope)
    emit({**created.to_dict(), "token": secret}, as_json, lambda: click.echo(secret))


@command(token, "list")
@click.option("--all", "include_revoked", is_flag=True, help="Revoked tokens too.")
def token_list(as_json: bool, include_revoked: bool) -> None:
    """List tokens (names and scopes; the tokens themselves are not stored)."""
    with open_app() as app, app.connection() as conn:
        found = [t.to_dict() for t in tokens_db.list_all(conn, include_revoked)]

    def render() -> None:
        table = Table("name", "scope", "created", "revoked")
        for t in found:
            table.add_row(t["name"], t["scope"], str(t["created_at"]), str(t["revoked_at"] or ""))
        Console().print(table)

    emit(found, as_json, render)


@command(token, "revoke")
@click.argument("name")
def token_revoke(as_json: bool, name: str) -> None:
    """Revoke a token by name."""
    with open_app() as app, app.connection() as conn:
        revoked = tokens_db.revoke(conn, name)
    emit(revoked.to_dict(), as_json, lambda: click.echo(f"revoked {name}"))
