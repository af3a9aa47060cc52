"""The loop, its explanations and report, and the demo."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from mendb.db import embedded
from mendb.db.errors import InvalidArgument, require_between
from mendb.server.cli._common import cli, command, console, emit, open_app
from mendb.server.demo import LOADERS, run_demo
from mendb.server.loop import LoopConfig, run_loop
from mendb.server.loop import explain as explain_run
from mendb.server.operations import jsonable
from mendb.server.params import MAX_BIGINT, MAX_SEED
from mendb.server.report import build_report, write_html, write_pngs
from mendb.server.setting_fields import click_options


@command(cli)
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
    default=LoopConfig.min_confidence,
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
    require_between("--flip", flip_fraction, 0, 1)
    require_between("--seed", seed, 0, MAX_SEED)
    require_between("--rows", max_rows, 1, 10**8)
    if text_demo:
        _text_demo(as_json, max_rows or 800, seed)
        return
    with open_app() as app:
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

    emit(report.to_dict(), as_json, render)


def _text_demo(as_json: bool, rows: int, seed: int) -> None:
    from mendb.server.demo_text import run_text_demo

    with open_app() as app:
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

    emit(report.to_dict(), as_json, render)


@command(cli)
@click.argument("name")
@click_options(LoopConfig)
def loop(as_json: bool, name: str, **settings: Any) -> None:
    """Value, propose, apply and retrain, round after round (resumes a paused loop)."""
    config = LoopConfig(**settings)
    config.check()
    log = (lambda message: None) if as_json else console.print
    with open_app() as app:
        outcome = run_loop(app, name, config, log)

    def render() -> None:
        # A numeric target's rounds are judged on RMSE and MAE, a class label's on
        # log-loss and balanced accuracy; the columns follow what was measured.
        numeric = any(r.get("valid_rmse_before") is not None for r in outcome.rounds)
        judges = ("valid_rmse", "valid_mae") if numeric else ("valid_log_loss", "valid_balanced")
        headers = ("valid RMSE", "valid MAE") if numeric else (
            "valid log-loss", "valid balanced acc.")  # fmt: skip
        table = Table(
            "round", "method", "proposals", "accepted", "applied", "relabels", *headers,
            "decision", title="judged on the validation rows",
        )  # fmt: skip
        for r in outcome.rounds:
            table.add_row(
                str(r["round"]),
                r["method"],
                str(r["proposals"]),
                str(r["accepted"]),
                str(r["applied"]),
                _relabels(r.get("relabels") or []),
                *(_change(r.get(f"{j}_before"), r.get(f"{j}_after")) for j in judges),
                str(r["decision"] or r["status"]),
            )
        Console().print(table)
        click.echo(f"loop {outcome.loop_id} {outcome.status}: {outcome.reason}")

    emit(jsonable(outcome.__dict__), as_json, render)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _change(before: float | None, after: float | None) -> str:
    return _fmt(before) if after is None else f"{_fmt(before)} -> {_fmt(after)}"


def _relabels(moved: list[dict[str, object]], shown: int = 5) -> str:
    """A round's relabels by direction, e.g. '12 good->bad, 3 bad->good' (a numeric
    target's are one per value: the first few, and how many more)."""
    parts = [f"{m['count']} {m['from']}->{m['to']}" for m in moved]
    more = f", and {len(parts) - shown} more" if len(parts) > shown else ""
    return ", ".join(parts[:shown]) + more or "none"


@command(cli)
@click.argument("name")
@click.option("--run", "run_id", type=int, default=None, help="Run id (default: the latest).")
def explain(as_json: bool, name: str, run_id: int | None) -> None:
    """Say in words which kinds of rows have low value."""
    require_between("--run", run_id, 1, MAX_BIGINT)
    with open_app() as app:
        rules = explain_run(app, name, run_id)
    emit(
        rules,
        as_json,
        lambda: click.echo(
            "\n".join(r["sentence"] for r in rules) or "no group of rows stands out"
        ),
    )


@command(cli)
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
    _check_writable(out, "--out")
    if png_dir is not None and png_dir.exists() and not png_dir.is_dir():
        raise InvalidArgument(f"--png {png_dir} is a file, not a folder")
    with open_app() as app:
        built = build_report(app, name)
    write_html(built, out)
    written = [str(out)] + [str(p) for p in (write_pngs(built, png_dir) if png_dir else [])]
    emit({"files": written}, as_json, lambda: click.echo("wrote " + ", ".join(written)))


def _check_writable(target: Path, option: str) -> None:
    """Refuse a file that cannot be written before any work is done."""
    folder = target.parent
    if not folder.is_dir():
        raise InvalidArgument(f"{option} {target}: the folder {folder} does not exist")
    if target.is_dir():
        raise InvalidArgument(f"{option} {target} is a folder; name a file in it")
