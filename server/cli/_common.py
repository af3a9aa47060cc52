"""What every command shares: the group, --json output, error handling, the
database handle and the progress bar. mendb's errors are caught once, here,
printed with what they name, and turned into exit status 1."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from db.errors import MendbError
from server.context import Mendb
from server.settings import Settings
from valuation._validation import InvalidParameterError

console = Console(stderr=True)


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, default=str, indent=2))
    else:
        render()


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (MendbError, InvalidParameterError) as error:
            if kwargs.get("as_json"):
                payload = (
                    error.to_dict()
                    if isinstance(error, MendbError)
                    else {"error": type(error).__name__, "message": str(error)}
                )
                click.echo(json.dumps(payload), err=True)
            else:
                console.print(f"[red]error:[/red] {error}")
            sys.exit(1)

    return wrapper


def _json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def command(group: click.Group, name: str | None = None) -> Callable[..., Any]:
    def decorate(func: Callable[..., Any]) -> Any:
        return group.command(name)(_json_option(handle_errors(func)))

    return decorate


@contextmanager
def open_app() -> Iterator[Mendb]:
    app = Mendb.open(Settings())
    try:
        yield app
    finally:
        app.close()


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[float], None]]:
    if not enabled:
        yield lambda fraction: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=1.0)
        yield lambda fraction: bar.update(task, completed=fraction)


@click.group()
@click.version_option(package_name="mendb")
def cli() -> None:
    """mendb: find the training rows that hurt your model, and mend them."""
