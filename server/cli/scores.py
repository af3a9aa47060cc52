"""Reading the values: kept apart from valuing, so that it starts without the
numeric stack."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from mendb.db import datasets as datasets_db
from mendb.db.errors import require_between
from mendb.db.row_values import list_scores
from mendb.server.cli._common import cli, command, console, emit, open_app
from mendb.server.params import MAX_PAGE


@command(cli)
@click.argument("name")
@click.option("--method", default=None, help="Which method's values (default: the latest).")
@click.option("--limit", default=20, show_default=True)
def scores(as_json: bool, name: str, method: str | None, limit: int) -> None:
    """Show the lowest-valued rows of the latest valuation, flagging values whose
    Monte Carlo estimate did not converge."""
    require_between("--limit", limit, 1, MAX_PAGE)
    columns = ("row_key", "method", "value", "rank", "converged", "convergence_warning")
    with open_app() as app, app.connection() as conn:
        datasets_db.get(conn, name)
        rows = list_scores(conn, name, method=method, order="rank", limit=limit)
    found = [{column: r[column] for column in columns} for r in rows]

    def render() -> None:
        warned = {r["method"]: r["convergence_warning"] for r in found if r["converged"] is False}
        for which, warning in warned.items():
            console.print(f"[yellow]warning:[/yellow] {which}: {warning}")
        table = Table("rank", "row", "method", "value", "converged")
        for r in found:
            flag = {True: "yes", False: "NO", None: "-"}[r["converged"]]
            table.add_row(str(r["rank"]), r["row_key"], r["method"], f"{r['value']:+.6f}", flag)
        Console().print(table)

    emit(found, as_json, render)
