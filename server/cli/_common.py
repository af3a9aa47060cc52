"""What every command shares: the group, --json output, error handling, the
database handle and the progress bar. mendb's errors are caught once, here,
printed with what they name, and turned into the exit status `server/errors.py`
gives their class."""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

if TYPE_CHECKING:
    from mendb.server.context import Mendb

console = Console(stderr=True)


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, default=str, indent=2))
    else:
        render()


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a mendb error (what it names, or its JSON with `--json`) and exit with
    the code `server/errors.py` gives its class; any other error is a bug and
    keeps its traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Imported here: `--help` needs no database driver.
        from mendb.server.errors import HANDLED, error_body, outcome_of

        try:
            return func(*args, **kwargs)
        except HANDLED as error:
            if kwargs.get("as_json"):
                click.echo(json.dumps(error_body(error)), err=True)
            else:
                console.print(f"[red]error:[/red] {error_body(error)['message']}")
            sys.exit(outcome_of(error).exit_code)

    return wrapper


def _json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def command(group: click.Group, name: str | None = None) -> Callable[..., Any]:
    def decorate(func: Callable[..., Any]) -> Any:
        return group.command(name)(_json_option(handle_errors(func)))

    return decorate


@contextmanager
def open_app() -> Iterator[Mendb]:
    # Imported here: `--help` needs neither pydantic nor SQLAlchemy.
    from mendb.server.context import Mendb
    from mendb.server.settings import Settings

    # One connection at a time, opened when asked for: no pool to start.
    app = Mendb.open(Settings(), pooled=False)
    try:
        yield app
    finally:
        app.close()


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[float], None]]:
    if not enabled:
        yield lambda fraction: None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=1.0)
        yield lambda fraction: bar.update(task, completed=fraction)


class _Commands(dict[str, click.Command]):
    """A lazy group's commands. Looking one up by name imports its module; reading
    the whole mapping (iterating it, its keys, values or items) imports every
    module first, so that code walking the commands sees them all."""

    def __init__(self, lazy: dict[str, tuple[str, str]], loaded: dict[str, click.Command]) -> None:
        super().__init__(loaded)
        self.lazy = lazy

    def load(self, name: str) -> None:
        if not dict.__contains__(self, name) and name in self.lazy:
            importlib.import_module(self.lazy[name][0])  # registers its commands

    def load_all(self) -> None:
        for name in list(self.lazy):
            self.load(name)

    def __missing__(self, name: str) -> click.Command:
        self.load(name)
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or name in self.lazy

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        self.load(name)
        return dict.get(self, name, default)

    def __iter__(self) -> Iterator[str]:
        self.load_all()
        return super().__iter__()

    def keys(self) -> Any:
        self.load_all()
        return super().keys()

    def values(self) -> Any:
        self.load_all()
        return super().values()

    def items(self) -> Any:
        self.load_all()
        return super().items()


class LazyGroup(click.Group):
    """A group whose commands live in modules imported only when one of their
    commands runs: a command that does no numeric work must not pay for importing
    torch and scikit-learn, which some modules need to declare their options.

    `add_lazy` names a command's module and the one-line summary that `--help`
    lists for it while the module is not imported."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, tuple[str, str]] = {}
        self.all_commands = _Commands(self.lazy, dict(self.commands))
        self.commands = self.all_commands

    def add_lazy(self, name: str, module: str, summary: str) -> None:
        self.lazy[name] = (module, summary)

    def loaded(self, name: str) -> click.Command | None:
        """The command if its module was imported, without importing it."""
        return dict.get(self.all_commands, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(dict.keys(self.all_commands)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found: click.Command | None = self.commands.get(cmd_name)
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = [
            name
            for name in self.list_commands(ctx)
            if name in self.lazy or not dict.__getitem__(self.all_commands, name).hidden
        ]
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.loaded(name)
            rows.append((name, loaded.get_short_help_str(limit) if loaded else self.lazy[name][1]))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="mendb")
def cli() -> None:
    """mendb: find the training rows that hurt your model, and mend them."""
