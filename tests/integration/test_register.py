"""Registering a table: kinds from column types, and every bad input refused with
an error that names it, writing nothing."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from mendb.db import datasets
from mendb.db.datasets import SplitSpec
from mendb.db.errors import (
    DatasetExists,
    InvalidDataset,
    MendbError,
    UnknownColumn,
    UnknownRelation,
)
from mendb.db.features import row_number_columns
from mendb.server.context import Mendb
from tests.factories import make_table


def registered(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM mendb.datasets").fetchone()
    assert row is not None
    return int(row[0])


def test_register_infers_kinds(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn)
    conn.execute("ALTER TABLE train ADD COLUMN emb vector(3), ADD COLUMN flag boolean")
    dataset = datasets.register(conn, "d", "public.train", "id", "label")
    kinds = {f.name: f.kind for f in dataset.features}
    assert kinds == {
        "a": "numeric",
        "b": "numeric",
        "colour": "categorical",
        "note": "text",
        "emb": "vector",
        "flag": "categorical",
    }
    assert next(f for f in dataset.features if f.name == "emb").dim == 3
    assert datasets.get(conn, "d") == dataset


def test_feature_list_and_kind_override(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn)
    spec = datasets.parse_feature_spec("a,colour:text")
    dataset = datasets.register(conn, "d", "train", "id", "label", spec)
    assert [(f.name, f.kind) for f in dataset.features] == [("a", "numeric"), ("colour", "text")]


@pytest.mark.parametrize(
    ("setup", "args", "error", "named"),
    [
        (None, {"table": "public.nope"}, UnknownRelation, "public.nope"),
        (None, {"key": "nope"}, UnknownColumn, "nope"),
        (None, {"label": "nope"}, UnknownColumn, "nope"),
        (None, {"features": [("a", None), ("zzz", None)]}, UnknownColumn, "zzz"),
        (
            "ALTER TABLE train DROP CONSTRAINT train_pkey;"
            " ALTER TABLE train ALTER id DROP NOT NULL; UPDATE train SET id = NULL WHERE id = 3",
            {},
            InvalidDataset,
            "null",
        ),
        (
            "ALTER TABLE train DROP CONSTRAINT train_pkey; UPDATE train SET id = 1 WHERE id = 2",
            {},
            InvalidDataset,
            "not unique",
        ),
        ("UPDATE train SET label = 1", {}, InvalidDataset, "1 class"),
        (
            "ALTER TABLE train ALTER label DROP NOT NULL;"
            " UPDATE train SET label = NULL WHERE id = 7",
            {},
            InvalidDataset,
            "'7'",
        ),
        ("DELETE FROM train", {}, InvalidDataset, "no rows"),
        (None, {"features": [("label", None)]}, InvalidDataset, "label"),
    ],
)
def test_bad_input_is_named_and_nothing_is_written(
    app: Mendb,
    conn: psycopg.Connection[Any],
    setup: str | None,
    args: dict[str, Any],
    error: type[Exception],
    named: str,
) -> None:
    make_table(conn)
    if setup:
        conn.execute(setup.encode())
    call = {"table": "public.train", "key": "id", "label": "label", "features": None} | args
    with pytest.raises(error, match=named) as raised:
        datasets.register(
            conn, "d", call["table"], call["key"], call["label"], call["features"]
        )
    assert isinstance(raised.value, MendbError)
    assert registered(conn) == 0


def test_duplicate_name_and_bad_split(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn)
    datasets.register(conn, "d", "train", "id", "label")
    with pytest.raises(DatasetExists):
        datasets.register(conn, "d", "train", "id", "label")
    with pytest.raises(MendbError, match="validation-fraction"):
        datasets.register(
            conn, "e", "train", "id", "label", split=SplitSpec(validation_fraction=1.5)
        )
    with pytest.raises(UnknownRelation, match=r"public\.missing"):
        datasets.register(
            conn,
            "e",
            "train",
            "id",
            "label",
            split=SplitSpec(validation_table="public.missing"),
        )
    assert registered(conn) == 1


def test_unknown_dataset_is_named(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(MendbError, match="'ghost'"):
        datasets.get(conn, "ghost")


def test_a_row_number_is_left_out_of_the_default_features(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    """A column that numbers the rows (R's rownames, a serial id) is no feature
    unless named; one with a gap, a repeat or a fraction is kept."""
    conn.execute(
        "CREATE TABLE t AS SELECT i AS id, 507 - i AS rownames, 100.0 + i AS serial,"
        " CASE WHEN i = 7 THEN 600 ELSE i END AS gap, i / 2 AS repeat, i + 0.5 AS half,"
        " (i % 3)::text AS label FROM generate_series(1, 506) AS i"
    )
    dataset = datasets.register(conn, "d", "t", "id", "label")
    assert [f.name for f in dataset.features] == ["gap", "repeat", "half"]
    assert row_number_columns(conn, dataset.table, "id", "label") == ["rownames", "serial"]
    named = datasets.register(
        conn, "e", "t", "id", "label", datasets.parse_feature_spec("rownames,gap")
    )
    assert [f.name for f in named.features] == ["rownames", "gap"]
