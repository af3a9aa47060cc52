"""Reading a dataset by binary COPY gives what a plain SELECT gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest

from mendb.db import datasets
from mendb.db.datasets import SplitSpec
from mendb.db.read import read_dataset
from mendb.server.context import Mendb
from tests.factories import make_table


def test_binary_read_equals_select(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn, n=80)
    conn.execute(
        "UPDATE train SET a = NULL WHERE id IN (3, 5); UPDATE train SET colour = NULL WHERE id = 4"
    )
    dataset = datasets.register(
        conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,b,colour")
    )
    read = read_dataset(conn, dataset)
    arrays = read.arrays
    rows = {r[0]: r[1:] for r in conn.execute("SELECT id::text, a, b, colour, label FROM train")}
    splits = [arrays.train, arrays.valid, arrays.test]
    assert sum(len(s) for s in splits) == 80 == read.rows_read
    assert arrays.classes == ("0", "1") and arrays.categories["colour"] == ("blue", "green", "red")
    for split in splits:
        for key, x, y in zip(split.keys, split.x, split.y, strict=True):
            a, b, colour, label = rows[key]
            assert (np.isnan(x[0]) and a is None) or x[0] == a
            assert x[1] == pytest.approx(b)
            expected = np.nan if colour is None else arrays.categories["colour"].index(colour) + 1
            assert (np.isnan(x[2]) and colour is None) or x[2] == expected
            assert arrays.classes[y] == str(label)
    assert arrays.missing is not None and arrays.missing.sum() == sum(
        1 for k in arrays.train.keys if k in ("3", "4", "5")
    )


def test_split_is_deterministic_and_follows_the_fractions(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn, n=2000)
    dataset = datasets.register(
        conn,
        "d",
        "train",
        "id",
        "label",
        datasets.parse_feature_spec("a,b"),
        SplitSpec(0.2, 0.1, seed=5),
    )
    first, second = read_dataset(conn, dataset), read_dataset(conn, dataset)
    assert list(first.arrays.valid.keys) == list(second.arrays.valid.keys)
    assert first.fingerprint == second.fingerprint
    assert len(first.arrays.valid) == pytest.approx(400, abs=60)
    assert len(first.arrays.test) == pytest.approx(200, abs=45)
    in_sql = conn.execute(
        "SELECT count(*) FROM train WHERE mendb.split_unit(5, id::text) < 0.2"
    ).fetchone()
    assert in_sql is not None and in_sql[0] == len(first.arrays.valid)


def test_fingerprint_changes_with_the_data(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn)
    dataset = datasets.register(
        conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,b")
    )
    before = read_dataset(conn, dataset).fingerprint
    conn.execute("UPDATE train SET b = b + 1 WHERE id = 10")
    assert read_dataset(conn, dataset).fingerprint != before


def test_vectors_and_null_vectors(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn, n=30)
    conn.execute("ALTER TABLE train ADD COLUMN emb vector(3)")
    conn.execute("UPDATE train SET emb = ARRAY[id, id * 2, -id]::real[]::vector WHERE id <> 9")
    dataset = datasets.register(
        conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,emb")
    )
    arrays = read_dataset(conn, dataset).arrays
    assert arrays.feature_names == ("a", "emb[0]", "emb[1]", "emb[2]")
    for split in (arrays.train, arrays.valid, arrays.test):
        for key, x in zip(split.keys, split.x, strict=True):
            i = int(key)
            if i == 9:
                assert np.isnan(x[1:]).all()
            else:
                np.testing.assert_array_equal(x[1:], [i, 2 * i, -i])


def test_text_columns_are_skipped_and_listed(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn)
    dataset = datasets.register(conn, "d", "train", "id", "label")
    read = read_dataset(conn, dataset)
    assert read.skipped_columns == ("note",)
    assert "note" not in read.arrays.feature_names


def test_validation_table(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn, "train", n=50, seed=1)
    make_table(conn, "holdout", n=40, seed=2)
    dataset = datasets.register(
        conn,
        "d",
        "train",
        "id",
        "label",
        datasets.parse_feature_spec("a,b"),
        SplitSpec(validation_table="public.holdout"),
    )
    arrays = read_dataset(conn, dataset).arrays
    assert len(arrays.train) == 50 and len(arrays.valid) + len(arrays.test) == 40
