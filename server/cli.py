"""The `mendb` command line: thin adapters over `server.operations`.

Every command takes `--json` for scripts. mendb's errors are caught once, here,
printed with what they name, and turned into exit status 1.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from db import datasets as datasets_db
from db import embedded
from db.catalog import TableRef
from db.datasets import SplitSpec, parse_feature_spec
from db.errors import MendbError
from db.files import export_results, import_file
from db.migrate import available, migrate
from db.repairs import list_repairs, review
from server import operations
from server.context import Mendb
from server.demo import LOADERS, run_demo
from server.operations import jsonable
from server.settings import Settings
from valuation._validation import InvalidParameterError
from valuation.executors import DaskExecutor
from valuation.methods import METHODS

console = Console(stderr=True)


def _emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, default=str, indent=2))
    else:
        render()


def _handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _command(group: click.Group, name: str | None = None) -> Callable[..., Any]:
    def decorate(func: Callable[..., Any]) -> Any:
        return group.command(name)(_json_option(_handle_errors(func)))

    return decorate


@contextmanager
def _app() -> Iterator[Mendb]:
    app = Mendb.open(Settings())
    try:
        yield app
    finally:
        app.close()


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Callable[[float], None]]:
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


# --- database --------------------------------------------------------------


@cli.group()
def db() -> None:
    """The database: URL, migrations, the embedded server."""


@_command(db, "url")
def db_url(as_json: bool) -> None:
    """Print a URL that psql accepts (starts the embedded server if needed)."""
    with _app() as app:
        _emit({"url": app.url}, as_json, lambda: click.echo(app.url))


@_command(db, "psql")
def db_psql(as_json: bool) -> None:
    """Open psql on mendb's database (the embedded server's own psql if none is installed)."""
    with _app() as app:
        url = app.url
    binary = embedded.psql_binary()
    os.execv(str(binary), [str(binary), url])


@_command(db, "migrate")
@click.option("--list", "only_list", is_flag=True, help="Only list migrations; change nothing.")
def db_migrate(as_json: bool, only_list: bool) -> None:
    """Apply pending migrations (every command does this on its own)."""
    with _app() as app, app.connection() as conn:
        applied = [] if only_list else migrate(conn)
        versions = [f"{m.version}_{m.name}" for m in available()]
    _emit(
        {"migrations": versions, "applied_now": [m.version for m in applied]},
        as_json,
        lambda: click.echo("\n".join(versions)),
    )


@_command(db, "stop")
def db_stop(as_json: bool) -> None:
    """Stop the embedded PostgreSQL server."""
    stopped = embedded.stop(Settings().home)
    _emit(
        {"stopped": stopped},
        as_json,
        lambda: click.echo("stopped" if stopped else "the embedded server was not running"),
    )


# --- datasets --------------------------------------------------------------


@_command(cli)
@click.argument("name")
@click.option("--table", required=True, help="SCHEMA.TABLE holding the training rows.")
@click.option("--key", required=True, help="Unique, non-null key column.")
@click.option("--label", required=True, help="Label column.")
@click.option("--features", default=None, help="COL[:KIND],... (default: every other column).")
@click.option("--validation-fraction", default=0.2, show_default=True, type=float)
@click.option("--test-fraction", default=0.2, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split.")
@click.option("--validation-table", default=None, help="SCHEMA.TABLE of validation/test rows.")
def register(
    as_json: bool,
    name: str,
    table: str,
    key: str,
    label: str,
    features: str | None,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    validation_table: str | None,
) -> None:
    """Register a table as a dataset."""
    split = SplitSpec(validation_fraction, test_fraction, seed, validation_table)
    parsed = parse_feature_spec(features) if features else None
    with _app() as app, app.connection() as conn:
        dataset = datasets_db.register(conn, app.engine, name, table, key, label, parsed, split)
    _emit(
        dataset.to_dict(),
        as_json,
        lambda: click.echo(
            f"registered {name}: {dataset.table}, key {key}, label {label}, features "
            + ", ".join(f"{f.name} ({f.kind})" for f in dataset.features)
        ),
    )


@_command(cli)
def datasets(as_json: bool) -> None:
    """List registered datasets."""
    with _app() as app, app.connection() as conn:
        found = [d.to_dict() for d in datasets_db.list_all(conn)]

    def render() -> None:
        table = Table("name", "table", "key", "label", "features")
        for d in found:
            table.add_row(
                d["name"],
                d["table"],
                d["key"],
                d["label"],
                ", ".join(f["name"] for f in d["features"]),
            )
        Console().print(table)

    _emit(found, as_json, render)


# --- valuation -------------------------------------------------------------


def _parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep:
            raise MendbError(f"--param {item!r} is not NAME=VALUE")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


@_command(cli)
@click.argument("name")
@click.option(
    "--method",
    default="knn_shapley",
    show_default=True,
    type=click.Choice([*sorted(METHODS), "consensus"]),
)
@click.option("--k", type=int, default=None, help="Neighbours (knn_shapley).")
@click.option("--seed", type=int, default=None, help="Seed of Monte Carlo methods.")
@click.option("--max-samples", type=int, default=None, help="Permutations, subsets or bags.")
@click.option("--max-time", type=float, default=None, help="Seconds.")
@click.option("--jobs", "n_jobs", type=int, default=None, help="Local worker processes.")
@click.option("--scheduler", default=None, help="Dask scheduler tcp://HOST:8786.")
@click.option("--param", "extra", multiple=True, help="Other method parameter NAME=VALUE.")
def value(
    as_json: bool,
    name: str,
    method: str,
    k: int | None,
    seed: int | None,
    max_samples: int | None,
    max_time: float | None,
    n_jobs: int | None,
    scheduler: str | None,
    extra: tuple[str, ...],
) -> None:
    """Value every training row of a dataset (consensus: combine the methods run so far)."""
    given = {
        "k": k,
        "seed": seed,
        "max_samples": max_samples,
        "max_time": max_time,
        "n_jobs": n_jobs,
    }
    params = {key: v for key, v in given.items() if v is not None} | _parse_params(extra)
    if method in METHODS and "max_samples" not in METHODS[method].param_names():
        # Data-OOB's samples are its bags.
        if "max_samples" in params and "n_estimators" in METHODS[method].param_names():
            params["n_estimators"] = params.pop("max_samples")
    with _app() as app, _progress(f"{method} on {name}", not as_json) as progress:
        if method == "consensus":
            outcome = operations.consensus_dataset(app, name, params.get("methods"))
        else:
            scheduler = scheduler or app.settings.dask_scheduler
            if scheduler and "executor" in METHODS[method].param_names():
                params["executor"] = DaskExecutor(scheduler)
            outcome = operations.value_dataset(app, name, method, params, progress)

    def render() -> None:
        if outcome.skipped_columns:
            skipped = ", ".join(outcome.skipped_columns)
            console.print(f"[yellow]note:[/yellow] text columns not used yet: {skipped}")
        click.echo(
            f"run {outcome.run_id}: {outcome.method} valued {outcome.rows} rows in"
            f" {outcome.seconds:.2f}s; see mendb.row_values"
        )
        warning = (outcome.diagnostics.get("mtm") or {}).get("warning")
        if warning:
            console.print(f"[yellow]warning:[/yellow] {warning}")

    _emit(jsonable(outcome.to_dict()), as_json, render)


@_command(cli)
@click.argument("name")
@click.option("--method", default=None, help="Which method's values (default: the latest).")
@click.option("--limit", default=20, show_default=True)
def scores(as_json: bool, name: str, method: str | None, limit: int) -> None:
    """Show the lowest-valued rows of the latest valuation."""
    with _app() as app, app.connection() as conn:
        datasets_db.get(conn, name)
        rows = conn.execute(
            "SELECT row_key, method, value, rank FROM mendb.row_values WHERE dataset = %s"
            " AND (%s::text IS NULL OR method = %s) ORDER BY method, rank LIMIT %s",
            [name, method, method, limit],
        ).fetchall()
    found = [dict(zip(("row_key", "method", "value", "rank"), r, strict=True)) for r in rows]

    def render() -> None:
        table = Table("rank", "row", "method", "value")
        for r in found:
            table.add_row(str(r["rank"]), r["row_key"], r["method"], f"{r['value']:+.6f}")
        Console().print(table)

    _emit(found, as_json, render)


# --- repairs ---------------------------------------------------------------


@_command(cli)
@click.argument("name")
@click.option("--max-rows", default=100, show_default=True, help="At most this many rows.")
@click.option("--method", default=None, help="Use this method's values (default: the latest).")
@click.option("--k", default=10, show_default=True, help="Neighbours in the label vote.")
def propose(as_json: bool, name: str, max_rows: int, method: str | None, k: int) -> None:
    """Propose repairs for the lowest-valued rows (value < 0)."""
    with _app() as app:
        ids = operations.propose_repairs(app, name, max_rows, method, k)
    _emit(
        {"proposed": ids},
        as_json,
        lambda: click.echo(
            f"{len(ids)} proposals written to mendb.repairs; review with `mendb review {name}`"
        ),
    )


def _repairs_table(rows: list[dict[str, Any]]) -> None:
    table = Table("id", "row", "column", "old", "new", "kind", "confidence", "status")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["row_key"],
            r["column_name"],
            str(r["old_value"]),
            str(r["new_value"]),
            r["kind"],
            f"{r['confidence']:.2f}",
            r["status"],
        )
    Console().print(table)


@_command(cli, "review")
@click.argument("name")
@click.option("--status", "statuses", multiple=True, help="Only these statuses (repeatable).")
@click.option("--limit", default=50, show_default=True)
def review_command(as_json: bool, name: str, statuses: tuple[str, ...], limit: int) -> None:
    """List a dataset's repairs (the audit table)."""
    with _app() as app, app.connection() as conn:
        datasets_db.get(conn, name)
        rows = list_repairs(conn, dataset=name, status=list(statuses) or None, limit=limit)
    _emit(rows, as_json, lambda: _repairs_table(rows))


def _decide(
    decision: str,
    ids: tuple[int, ...],
    dataset: str | None,
    min_confidence: float | None,
    as_json: bool,
) -> None:
    with _app() as app, app.connection() as conn:
        if dataset:
            datasets_db.get(conn, dataset)
        changed = review(
            conn,
            decision,
            dataset=dataset,
            ids=list(ids) or None,
            min_confidence=min_confidence,
            actor=app.settings.actor,
        )
    _emit({decision: changed}, as_json, lambda: click.echo(f"{len(changed)} repairs {decision}"))


@_command(cli)
@click.argument("ids", nargs=-1, type=int)
@click.option("--dataset", default=None, help="Only this dataset's repairs.")
@click.option(
    "--min-confidence",
    type=float,
    default=None,
    help="Accept every proposal with at least this confidence.",
)
def accept(
    as_json: bool, ids: tuple[int, ...], dataset: str | None, min_confidence: float | None
) -> None:
    """Accept proposals, by id or by confidence."""
    _decide("accepted", ids, dataset, min_confidence, as_json)


@_command(cli)
@click.argument("ids", nargs=-1, type=int)
@click.option("--dataset", default=None, help="Only this dataset's repairs.")
def reject(as_json: bool, ids: tuple[int, ...], dataset: str | None) -> None:
    """Reject proposals by id."""
    if not ids:
        raise click.UsageError("name the repair ids to reject")
    _decide("rejected", ids, dataset, None, as_json)


@_command(cli)
@click.argument("name")
def apply(as_json: bool, name: str) -> None:
    """Apply all accepted repairs of a dataset in one transaction."""
    with _app() as app:
        report = operations.apply(app, name)
    _emit(
        report.to_dict(),
        as_json,
        lambda: click.echo(
            f"applied {len(report.done)} repairs; {len(report.stale)} stale (row changed since)"
        ),
    )


@_command(cli)
@click.argument("name")
@click.option("--repair", "ids", multiple=True, type=int, help="Repair id (repeatable).")
@click.option("--all", "revert_all", is_flag=True, help="Every applied repair of the dataset.")
def revert(as_json: bool, name: str, ids: tuple[int, ...], revert_all: bool) -> None:
    """Restore the old values of applied repairs."""
    if bool(ids) == revert_all:
        raise click.UsageError("give --repair ID (one or more) or --all")
    with _app() as app:
        report = operations.revert(app, name, list(ids) or None)
    _emit(
        report.to_dict(),
        as_json,
        lambda: click.echo(
            f"reverted {len(report.done)} repairs; {len(report.stale)} stale (row changed since)"
        ),
    )


# --- files -----------------------------------------------------------------


@_command(cli, "import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--table", required=True, help="SCHEMA.TABLE to create.")
@click.option("--key", default=None, help="Key column (default: a generated row_id).")
def import_(as_json: bool, file: Path, table: str, key: str | None) -> None:
    """Create a table from a CSV or Parquet file."""
    ref = TableRef.parse(table)
    with _app() as app, app.connection() as conn:
        rows = import_file(conn, file, ref, key)
    _emit(
        {"table": str(ref), "rows": rows},
        as_json,
        lambda: click.echo(f"imported {rows} rows into {ref}"),
    )


@_command(cli)
@click.argument("name")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(path_type=Path),
    help="FILE.parquet or FILE.csv",
)
def export(as_json: bool, name: str, target: Path) -> None:
    """Write a dataset's latest scores and its repairs to files."""
    with _app() as app, app.connection() as conn:
        datasets_db.get(conn, name)
        written = export_results(conn, name, target)
    _emit(
        {"files": [str(p) for p in written]},
        as_json,
        lambda: click.echo("wrote " + ", ".join(map(str, written))),
    )


def main() -> None:
    cli(prog_name="mendb")


@_command(cli)
@click.option(
    "--source",
    type=click.Choice(sorted(LOADERS)),
    default="breast_cancer",
    show_default=True,
    help="Bundled scikit-learn dataset.",
)
@click.option(
    "--flip",
    "flip_fraction",
    default=0.1,
    show_default=True,
    help="Share of training labels to flip.",
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--min-confidence",
    default=0.6,
    show_default=True,
    help="Accept proposals at least this confident.",
)
@click.option("--rows", "max_rows", type=int, default=None, help="Use only the first N rows.")
def demo(
    as_json: bool,
    source: str,
    flip_fraction: float,
    seed: int,
    min_confidence: float,
    max_rows: int | None,
) -> None:
    """Plant label errors in a real dataset, find them, mend them, retrain."""
    with _app() as app:
        report = run_demo(app, source, flip_fraction, seed, min_confidence, max_rows=max_rows)

    def render() -> None:
        table = Table(
            title=f"mendb demo: {report.source}, {report.rows} rows,"
            f" {report.flipped} training labels flipped"
        )
        table.add_column("measure")
        table.add_column("value", justify="right")
        for label, shown in [
            ("rows flagged (label repairs proposed)", str(report.flagged)),
            ("precision of flags", f"{report.precision:.3f}"),
            ("recall of flags", f"{report.recall:.3f}"),
            ("repairs applied / correct", f"{report.applied} / {report.correct_repairs}"),
            ("test accuracy, clean labels", f"{report.accuracy_clean:.4f}"),
            ("test accuracy, noisy labels", f"{report.accuracy_noisy:.4f}"),
            ("test accuracy, repaired", f"{report.accuracy_repaired:.4f}"),
        ]:
            table.add_row(label, shown)
        Console().print(table)
        query = (
            "select id, row_key, old_value, new_value, confidence, status"
            " from mendb.repairs where dataset = 'demo' order by id"
        )
        psql = shlex.quote(str(embedded.psql_binary()))
        click.echo(
            "\nThe audit trail (or open psql with `mendb db psql`):\n"
            f"  {psql} {shlex.quote(report.url)} -c {shlex.quote(query)}"
        )

    _emit(report.to_dict(), as_json, render)
