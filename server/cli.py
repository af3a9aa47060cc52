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
from db import tokens as tokens_db
from db.catalog import TableRef
from db.datasets import SplitSpec, parse_feature_spec
from db.errors import MendbError
from db.files import export_results, import_file
from db.migrate import available, migrate
from db.repairs import list_repairs, review
from db.tokens import SCOPES
from server import operations
from server.context import Mendb
from server.demo import LOADERS, run_demo
from server.loop import LoopConfig, run_loop
from server.loop import explain as explain_run
from server.operations import jsonable
from server.report import build_report, write_html, write_pngs
from server.serve import serve as run_service
from server.settings import Settings
from server.worker import WorkerOptions
from server.worker import main as run_worker
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
@click.option(
    "--derived",
    multiple=True,
    help="VECTOR_COLUMN=TEXT_COLUMN: the vector is the embedding of the text (repeatable).",
)
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
    derived: tuple[str, ...],
) -> None:
    """Register a table as a dataset."""
    split = SplitSpec(validation_fraction, test_fraction, seed, validation_table)
    parsed = parse_feature_spec(features) if features else None
    sources = datasets_db.parse_derived(derived)
    with _app() as app, app.connection() as conn:
        dataset = datasets_db.register(
            conn, app.engine, name, table, key, label, parsed, split, sources
        )
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
    accepted = METHODS[method].param_names() if method in METHODS else []
    if "max_samples" in params and "max_samples" not in accepted and "n_estimators" in accepted:
        params["n_estimators"] = params.pop("max_samples")  # Data-OOB's samples are its bags
    with _app() as app, _progress(f"{method} on {name}", not as_json) as progress:
        if method == "consensus":
            outcome = operations.consensus_dataset(app, name, params.get("methods"))
        else:
            if scheduler and "executor" in accepted:
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
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Check each proposal by a counterfactual retrain.",
)
def propose(
    as_json: bool, name: str, max_rows: int, method: str | None, k: int, verify: bool
) -> None:
    """Diagnose the lowest-valued rows (value < 0) and propose verified repairs."""
    with _app() as app, _progress(f"embedding {name}", not as_json) as progress:
        ids = operations.propose_repairs(
            app, name, max_rows, method, k, verify=verify, progress=progress
        )
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


@_command(cli)
@click.argument("name")
def embed(as_json: bool, name: str) -> None:
    """Embed a dataset's text columns into mendb.embeddings (new or changed rows only)."""
    with _app() as app, _progress(f"embedding {name}", not as_json) as progress:
        reports = operations.embed(app, name, progress)
    found = [r.__dict__ for r in reports]
    _emit(
        found,
        as_json,
        lambda: click.echo(
            "\n".join(
                f"{r['column']}: {r['embedded']} embedded, {r['unchanged']} unchanged,"
                f" {r['removed']} removed, {r['null_rows']} null"
                for r in found
            )
            or "no text columns"
        ),
    )


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
    verified_only: bool = False,
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
            verified_only=verified_only,
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
@click.option(
    "--verified-only",
    is_flag=True,
    help="Only proposals whose counterfactual retrain improved validation utility.",
)
def accept(
    as_json: bool,
    ids: tuple[int, ...],
    dataset: str | None,
    min_confidence: float | None,
    verified_only: bool,
) -> None:
    """Accept proposals, by id, by confidence, or by verification."""
    _decide("accepted", ids, dataset, min_confidence, as_json, verified_only)


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
    default="digits",
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
@click.option(
    "--text",
    "text_demo",
    is_flag=True,
    help="Amazon food reviews: label flips, typos and corrupted vectors.",
)
def demo(
    as_json: bool,
    source: str,
    flip_fraction: float,
    seed: int,
    min_confidence: float,
    max_rows: int | None,
    text_demo: bool,
) -> None:
    """Plant errors in a real dataset, find them, mend them, retrain."""
    if text_demo:
        _text_demo(as_json, max_rows or 800, seed)
        return
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
            ("rows flagged (repairs proposed)", str(report.flagged)),
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


def _text_demo(as_json: bool, rows: int, seed: int) -> None:
    from server.demo_text import run_text_demo

    with _app() as app:
        report = run_text_demo(app, rows, seed)

    def render() -> None:
        table = Table(title=f"mendb demo --text: {report.rows} Amazon food reviews")
        for column in ("error", "planted", "proposed", "found", "correct", "verified"):
            table.add_column(column, justify="left" if column == "error" else "right")
        for kind, r in report.kinds.items():
            table.add_row(kind, *map(str, (r.injected, r.proposed, r.found, r.correct, r.verified)))
        Console().print(table)
        click.echo(
            f"applied {report.applied} verified repairs; test accuracy"
            f" {report.accuracy_noisy:.4f} -> {report.accuracy_repaired:.4f}"
        )

    _emit(report.to_dict(), as_json, render)


# --- the loop --------------------------------------------------------------


@_command(cli)
@click.argument("name")
@click.option(
    "--method", default="auto", show_default=True, type=click.Choice(["auto", *sorted(METHODS)])
)
@click.option(
    "--budget",
    type=int,
    default=None,
    help="Rows to propose repairs for, per round (default: 5 % of training rows).",
)
@click.option("--max-rounds", default=5, show_default=True)
@click.option(
    "--min-gain",
    default=0.001,
    show_default=True,
    help="Stop when test accuracy gains less than this in a round.",
)
@click.option(
    "--policy",
    type=click.Choice(["auto", "review"]),
    default="auto",
    show_default=True,
    help="auto: accept confident proposals; review: pause for a person.",
)
@click.option("--min-confidence", default=0.6, show_default=True)
@click.option("--seed", default=0, show_default=True)
def loop(
    as_json: bool,
    name: str,
    method: str,
    budget: int | None,
    max_rounds: int,
    min_gain: float,
    policy: str,
    min_confidence: float,
    seed: int,
) -> None:
    """Value, propose, apply and retrain, round after round (resumes a paused loop)."""
    config = LoopConfig(method, budget, max_rounds, min_gain, policy, min_confidence, seed)
    log = (lambda message: None) if as_json else console.print
    with _app() as app:
        outcome = run_loop(app, name, config, log)

    def render() -> None:
        table = Table(
            "round",
            "method",
            "proposals",
            "accepted",
            "applied",
            "test before",
            "test after",
            "decision",
        )
        for r in outcome.rounds:
            table.add_row(
                str(r["round"]),
                r["method"],
                str(r["proposals"]),
                str(r["accepted"]),
                str(r["applied"]),
                _fmt(r["test_before"]),
                _fmt(r["test_after"]),
                str(r["decision"] or r["status"]),
            )
        Console().print(table)
        click.echo(f"loop {outcome.loop_id} {outcome.status}: {outcome.reason}")

    _emit(jsonable(outcome.__dict__), as_json, render)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


@_command(cli)
@click.argument("name")
@click.option("--run", "run_id", type=int, default=None, help="Run id (default: the latest).")
def explain(as_json: bool, name: str, run_id: int | None) -> None:
    """Say in words which kinds of rows have low value."""
    with _app() as app:
        rules = explain_run(app, name, run_id)
    _emit(
        rules,
        as_json,
        lambda: click.echo(
            "\n".join(r["sentence"] for r in rules) or "no group of rows stands out"
        ),
    )


@_command(cli)
@click.argument("name")
@click.option(
    "--out", "out", type=click.Path(path_type=Path), default=Path("report.html"), show_default=True
)
@click.option(
    "--png",
    "png_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write each figure as a PNG into this folder.",
)
def report(as_json: bool, name: str, out: Path, png_dir: Path | None) -> None:
    """Write an HTML report: values, point-removal curves, rounds, repairs."""
    with _app() as app:
        built = build_report(app, name)
    write_html(built, out)
    written = [str(out)] + [str(p) for p in (write_pngs(built, png_dir) if png_dir else [])]
    _emit({"files": written}, as_json, lambda: click.echo("wrote " + ", ".join(written)))


# --- the service -----------------------------------------------------------


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
@_handle_errors
def serve(
    host: str, port: int, workers: int, lease: float, watch: bool, watch_threshold: int
) -> None:
    """Run the HTTP API (OpenAPI at /docs) and worker processes for queued runs."""
    options = _worker_options(lease, watch, watch_threshold)
    run_service(Settings(), host, port, workers, options)


@cli.command()
@_worker_flags
@_handle_errors
def worker(lease: float, watch: bool, watch_threshold: int) -> None:
    """Run one worker process without the HTTP API (to add workers elsewhere)."""
    run_worker(Settings(), _worker_options(lease, watch, watch_threshold))


@cli.group()
def token() -> None:
    """API tokens: create (the token is shown once), list, revoke."""


@_command(token, "create")
@click.option("--name", required=True, help="Who uses it; written into the audit trail.")
@click.option("--scope", type=click.Choice(SCOPES), default="read", show_default=True)
def token_create(as_json: bool, name: str, scope: str) -> None:
    """Create a token and print it once; only its hash is stored."""
    with _app() as app, app.connection() as conn:
        created, secret = tokens_db.create(conn, name, scope)
    _emit({**created.to_dict(), "token": secret}, as_json, lambda: click.echo(secret))


@_command(token, "list")
@click.option("--all", "include_revoked", is_flag=True, help="Revoked tokens too.")
def token_list(as_json: bool, include_revoked: bool) -> None:
    """List tokens (names and scopes; the tokens themselves are not stored)."""
    with _app() as app, app.connection() as conn:
        found = [t.to_dict() for t in tokens_db.list_all(conn, include_revoked)]

    def render() -> None:
        table = Table("name", "scope", "created", "revoked")
        for t in found:
            table.add_row(t["name"], t["scope"], str(t["created_at"]), str(t["revoked_at"] or ""))
        Console().print(table)

    _emit(found, as_json, render)


@_command(token, "revoke")
@click.argument("name")
def token_revoke(as_json: bool, name: str) -> None:
    """Revoke a token by name."""
    with _app() as app, app.connection() as conn:
        revoked = tokens_db.revoke(conn, name)
    _emit(revoked.to_dict(), as_json, lambda: click.echo(f"revoked {name}"))
