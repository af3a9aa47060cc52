"""Repairs: propose, review, accept or reject, apply, revert."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from mendb.db import datasets as datasets_db
from mendb.db.errors import require_between
from mendb.db.repairs import list_repairs, review
from mendb.server import applying
from mendb.server.cli._common import cli, command, emit, open_app, progress_bar
from mendb.server.params import (
    MAX_BIGINT,
    MAX_NEIGHBOURS,
    MAX_PAGE,
    MAX_PROPOSALS,
    check_model,
    parse_model_params,
)


@command(cli)
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
@click.option(
    "--model",
    default=None,
    help="Your estimator, package.module:Class: fitted for the evidence and the verification.",
)
@click.option("--model-params", default=None, help="Its constructor parameters, a JSON object.")
@click.option(
    "--predictions",
    default=None,
    help="COLUMN of out-of-fold predictions (or a binary label's probability) in the table.",
)
def propose(
    as_json: bool,
    name: str,
    max_rows: int,
    method: str | None,
    k: int,
    verify: bool,
    model: str | None,
    model_params: str | None,
    predictions: str | None,
) -> None:
    """Diagnose rows with a broken cell or a value < 0 and propose verified repairs."""
    require_between("--max-rows", max_rows, 1, MAX_PROPOSALS)
    require_between("--k", k, 1, MAX_NEIGHBOURS)
    given = {"model": model, "model_params": parse_model_params(model_params),
             "predictions": predictions}  # fmt: skip
    check_model(given)
    own = {key: value for key, value in given.items() if value is not None}
    from mendb.db.stored_predictions import check_predictions  # imports numpy
    from mendb.server import operations  # imports torch and scikit-learn

    with open_app() as app, app.connection() as conn:
        if predictions is not None:
            check_predictions(conn, datasets_db.get(conn, name), predictions)
        with progress_bar(f"embedding {name}", not as_json) as progress:
            proposed = operations.propose(
                conn, app.settings, name, max_rows, method, k,
                verify=verify, progress=progress, **own,
            )  # fmt: skip
    ids = proposed.ids
    emit(
        {"proposed": ids} | ({"reason": proposed.reason} if proposed.reason else {}),
        as_json,
        lambda: click.echo(
            f"{len(ids)} proposals written to mendb.repairs; review with `mendb review {name}`"
            if ids
            else f"0 proposals: {proposed.reason}"
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


@command(cli)
@click.argument("name")
def embed(as_json: bool, name: str) -> None:
    """Embed a dataset's text columns into mendb.embeddings (new or changed rows only)."""
    from mendb.server import operations  # imports torch and scikit-learn

    with (
        open_app() as app,
        app.connection() as conn,
        progress_bar(f"embedding {name}", not as_json) as progress,
    ):
        reports = operations.embed(conn, app.settings, name, progress)
    found = [r.__dict__ for r in reports]
    emit(
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


@command(cli, "review")
@click.argument("name")
@click.option("--status", "statuses", multiple=True, help="Only these statuses (repeatable).")
@click.option("--limit", default=50, show_default=True)
def review_command(as_json: bool, name: str, statuses: tuple[str, ...], limit: int) -> None:
    """List a dataset's repairs (the audit table)."""
    require_between("--limit", limit, 1, MAX_PAGE)
    with open_app() as app, app.connection() as conn:
        datasets_db.get(conn, name)
        rows = list_repairs(conn, dataset=name, status=list(statuses) or None, limit=limit)
    emit(rows, as_json, lambda: _repairs_table(rows))


def _decide(
    decision: str,
    ids: tuple[int, ...],
    dataset: str | None,
    min_confidence: float | None,
    as_json: bool,
    verified_only: bool = False,
) -> None:
    for repair_id in ids:
        require_between("repair id", repair_id, 1, MAX_BIGINT)
    require_between("--min-confidence", min_confidence, 0, 1)
    with open_app() as app, app.connection() as conn:
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
    emit({decision: changed}, as_json, lambda: click.echo(f"{len(changed)} repairs {decision}"))


@command(cli)
@click.argument("ids", nargs=-1, type=int)
@click.option("--dataset", default=None, help="Only this dataset's repairs.")
# Deliberately like propose's options in shape only: click's declaration of a flag.
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


@command(cli)
@click.argument("ids", nargs=-1, type=int)
@click.option("--dataset", default=None, help="Only this dataset's repairs.")
def reject(as_json: bool, ids: tuple[int, ...], dataset: str | None) -> None:
    """Reject proposals by id."""
    if not ids:
        raise click.UsageError("name the repair ids to reject")
    _decide("rejected", ids, dataset, None, as_json)


@command(cli)
@click.argument("name")
def apply(as_json: bool, name: str) -> None:
    """Apply all accepted repairs of a dataset in one transaction."""
    with open_app() as app:
        report = applying.apply(app, name)
    emit(
        report.to_dict(),
        as_json,
        lambda: click.echo(
            f"applied {len(report.done)} repairs; {len(report.stale)} stale (row changed since)"
        ),
    )


@command(cli)
@click.argument("name")
@click.option("--repair", "ids", multiple=True, type=int, help="Repair id (repeatable).")
@click.option("--all", "revert_all", is_flag=True, help="Every applied repair of the dataset.")
def revert(as_json: bool, name: str, ids: tuple[int, ...], revert_all: bool) -> None:
    """Restore the old values of applied repairs."""
    if bool(ids) == revert_all:
        raise click.UsageError("give --repair ID (one or more) or --all")
    for repair_id in ids:
        require_between("--repair", repair_id, 1, MAX_BIGINT)
    with open_app() as app:
        report = applying.revert(app, name, list(ids) or None)
    emit(
        report.to_dict(),
        as_json,
        lambda: click.echo(
            f"reverted {len(report.done)} repairs; {len(report.stale)} stale (row changed since)"
        ),
    )
