"""Datasets and files: register a table, list them, CSV/Parquet in, results out."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from mendb.db import datasets as datasets_db
from mendb.db.catalog import TableRef
from mendb.db.datasets import RESERVED_SCHEMAS, SplitSpec, parse_feature_spec
from mendb.db.errors import InvalidArgument, InvalidDataset
from mendb.db.features import left_out_columns
from mendb.db.files import export_results, import_file
from mendb.server.cli._common import cli, command, emit, open_app
from mendb.valuation.task import Task


@command(cli)
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
@click.option(
    "--task",
    type=click.Choice([t.value for t in Task]),
    default=None,
    help="What the label is (default: from its type and values; an ambiguous label is"
    " refused, asking for this).",
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
    task: str | None,
) -> None:
    """Register a table as a dataset."""
    split = SplitSpec(validation_fraction, test_fraction, seed, validation_table)
    parsed = parse_feature_spec(features) if features else None
    sources = datasets_db.parse_derived(derived)
    with open_app() as app, app.connection() as conn:
        dataset = datasets_db.register(conn, name, table, key, label, parsed, split, sources, task)
        counters = (
            [] if parsed else left_out_columns(conn, dataset.table, key, label, dataset.features)
        )

    def render() -> None:
        click.echo(
            f"registered {name}: {dataset.table}, key {key}, label {label} ({dataset.task}),"
            " features " + ", ".join(f"{f.name} ({f.kind})" for f in dataset.features)
        )
        if counters:
            click.echo(
                f"left out {', '.join(counters)}: a different whole number on every row,"
                " without a gap, which numbers the rows rather than describes them; name"
                " it in --features to keep it"
            )
        if validation_table is None:
            click.echo(
                "note: validation rows are drawn from this table and carry its label errors;"
                " a small table of checked labels (--validation-table) makes every decision"
                " of the loop stronger"
            )

    emit(dataset.to_dict() | {"left_out": counters}, as_json, render)


@command(cli)
def datasets(as_json: bool) -> None:
    """List registered datasets."""
    with open_app() as app, app.connection() as conn:
        found = [d.to_dict() for d in datasets_db.list_all(conn)]

    def render() -> None:
        table = Table("name", "table", "key", "label", "task", "features")
        for d in found:
            table.add_row(
                d["name"],
                d["table"],
                d["key"],
                d["label"],
                d["task"],
                ", ".join(f["name"] for f in d["features"]),
            )
        Console().print(table)

    emit(found, as_json, render)


@command(cli, "import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--table", required=True, help="SCHEMA.TABLE to create.")
@click.option("--key", default=None, help="Key column (default: a generated row_id).")
def import_(as_json: bool, file: Path, table: str, key: str | None) -> None:
    """Create a table from a CSV or Parquet file."""
    if not file.is_file():
        raise InvalidArgument(f"file {file} does not exist or is not a file")
    ref = TableRef.parse(table)
    if ref.schema in RESERVED_SCHEMAS or ref.schema.startswith("pg_"):
        raise InvalidDataset(f"schema {ref.schema} is not yours to create {ref} in", table=str(ref))
    with open_app() as app, app.connection() as conn:
        rows = import_file(conn, file, ref, key)
    emit(
        {"table": str(ref), "rows": rows},
        as_json,
        lambda: click.echo(f"imported {rows} rows into {ref}"),
    )


@command(cli)
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
    if not target.parent.is_dir():
        raise InvalidArgument(f"--to {target}: the folder {target.parent} does not exist")
    with open_app() as app, app.connection() as conn:
        datasets_db.get(conn, name)
        written = export_results(conn, name, target)
    emit(
        {"files": [str(p) for p in written]},
        as_json,
        lambda: click.echo("wrote " + ", ".join(map(str, written))),
    )
