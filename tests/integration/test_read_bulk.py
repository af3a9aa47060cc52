"""The bulk read path: every kind of key and label, the split computed in bulk,
nulls named, and the framing checked, all against what plain SQL says."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest

from mendb.db import datasets
from mendb.db.datasets import SplitSpec
from mendb.db.errors import InvalidDataset
from mendb.db.read import DatasetRead, read_dataset
from mendb.server.context import Mendb


def _table(conn: psycopg.Connection[Any], key_type: str, label_type: str, keys: list[Any]) -> None:
    conn.execute(f"CREATE TABLE t (k {key_type} PRIMARY KEY, a float8, b real, y {label_type})")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, %s, %s)",
            [(key, i * 0.5, -i / 4, i % 3) for i, key in enumerate(keys)],
        )


def _register(app: Mendb, conn: psycopg.Connection[Any], seed: int = 7) -> datasets.Dataset:
    spec = datasets.parse_feature_spec("a,b")
    return datasets.register(conn, "d", "t", "k", "y", spec, SplitSpec(0.3, 0.2, seed))


def _assert_matches_sql(conn: psycopg.Connection[Any], read: DatasetRead, seed: int = 7) -> None:
    """Every row is where mendb.split_unit puts it, with its own values and label."""
    arrays = read.arrays
    rows = {
        r[0]: r[1:]
        for r in conn.execute(
            "SELECT k::text, a, b, y::text, mendb.split_unit(%s, k::text) FROM t", [seed]
        )
    }
    assert read.rows_read == len(rows)
    seen = set()
    for split, part in ((arrays.train, 0), (arrays.valid, 1), (arrays.test, 2)):
        assert list(split.keys) == sorted(split.keys, key=list(_key_order(conn)).index)
        for key, x, y in zip(split.keys, split.x, split.y, strict=True):
            a, b, label, unit = rows[key]
            expected = 1 if unit < 0.3 else 2 if unit < 0.5 else 0
            assert expected == part, key
            assert x[0] == a and x[1] == pytest.approx(b)
            assert arrays.classes[y] == label
            seen.add(key)
    assert seen == set(rows)


def _key_order(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT k::text FROM t ORDER BY t.k")]


@pytest.mark.parametrize(
    ("key_type", "keys"),
    [
        ("bigint", [10**12 + i * 7919 for i in range(300)] + [-5, 0]),
        ("smallint", list(range(-150, 150))),
        ("text", [f"row {i}" for i in range(298)] + ["back\\slash", "tab\there"]),
        ("text", ["ünïcödé", "line\nbreak", "a", "é", "Z", "\\N"]),
        ("uuid", [f"00000000-0000-0000-0000-{i:012d}" for i in range(200)]),
    ],
)
def test_every_key_type_reads_what_sql_says(
    app: Mendb, conn: psycopg.Connection[Any], key_type: str, keys: list[Any]
) -> None:
    _table(conn, key_type, "integer", keys)
    read = read_dataset(conn, _register(app, conn))
    _assert_matches_sql(conn, read)
    assert read.arrays.classes == ("0", "1", "2")


@pytest.mark.parametrize("label_type", ["integer", "bigint", "text", "smallint"])
def test_labels_of_each_type_are_coded_in_text_order(
    app: Mendb, conn: psycopg.Connection[Any], label_type: str
) -> None:
    _table(conn, "integer", label_type, list(range(120)))
    conn.execute("UPDATE t SET y = (k % 15 - 3)::text::" + label_type)
    read = read_dataset(conn, _register(app, conn))
    expected = tuple(r[0] for r in conn.execute("SELECT DISTINCT y::text AS v FROM t ORDER BY v"))
    assert read.arrays.classes == expected and "-3" in expected and "10" in expected
    _assert_matches_sql(conn, read)


def test_the_same_data_reads_the_same_whatever_the_key_type(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    """An integer key travels in the stream, a text key beside it; the values and
    the split are the same."""
    _table(conn, "integer", "integer", list(range(200)))
    by_integer = read_dataset(conn, _register(app, conn)).arrays
    conn.execute("ALTER TABLE t ALTER COLUMN k TYPE text")
    by_text = read_dataset(conn, datasets.get(conn, "d")).arrays
    for first, second in zip(
        (by_integer.train, by_integer.valid, by_integer.test),
        (by_text.train, by_text.valid, by_text.test),
        strict=True,
    ):
        assert sorted(first.keys) == sorted(second.keys)
        order = {k: i for i, k in enumerate(second.keys)}
        at = [order[k] for k in first.keys]
        np.testing.assert_array_equal(first.x, second.x[at])
        np.testing.assert_array_equal(first.y, second.y[at])


@pytest.mark.parametrize("key_type", ["integer", "text"])
def test_a_null_label_is_named_with_its_row(
    app: Mendb, conn: psycopg.Connection[Any], key_type: str
) -> None:
    _table(conn, key_type, "integer", [str(i) if key_type == "text" else i for i in range(50)])
    dataset = _register(app, conn)
    conn.execute("UPDATE t SET y = NULL WHERE k::text IN ('17', '31')")
    with pytest.raises(InvalidDataset, match=r"'y'.*null in row '17'") as caught:
        read_dataset(conn, dataset)
    assert caught.value.row == "17" and caught.value.column == "y"


@pytest.mark.parametrize("key_type", ["integer", "text"])
def test_a_null_key_is_named_not_misread(
    app: Mendb, conn: psycopg.Connection[Any], key_type: str
) -> None:
    """A key that lost its NOT NULL after registration: the integer stream sees a
    field of another width and hands over to the text path, which names it."""
    _table(conn, key_type, "integer", [str(i) if key_type == "text" else i for i in range(40)])
    dataset = _register(app, conn)
    conn.execute("ALTER TABLE t DROP CONSTRAINT t_pkey")
    conn.execute("ALTER TABLE t ALTER COLUMN k DROP NOT NULL")
    conn.execute("INSERT INTO t VALUES (NULL, 1, 2, 0)")
    with pytest.raises(InvalidDataset, match=r"key column 'k' .* is null") as caught:
        read_dataset(conn, dataset)
    assert caught.value.column == "k"


def test_validation_table_with_integer_keys_splits_by_share(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    _table(conn, "integer", "integer", list(range(100)))
    conn.execute("CREATE TABLE h (LIKE t INCLUDING ALL)")
    conn.execute("INSERT INTO h SELECT k + 1000, a, b, y FROM t")
    spec = SplitSpec(0.3, 0.2, 7, validation_table="public.h")
    dataset = datasets.register(
        conn, "d", "t", "k", "y", datasets.parse_feature_spec("a,b"), spec
    )
    arrays = read_dataset(conn, dataset).arrays
    assert list(arrays.train.keys) == [str(k) for k in range(100)]
    share = 0.3 / 0.5
    units = dict(conn.execute("SELECT k::text, mendb.split_unit(7, k::text) FROM h").fetchall())
    assert {k for k, u in units.items() if u < share} == set(arrays.valid.keys)
    assert {k for k, u in units.items() if u >= share} == set(arrays.test.keys)


def test_reads_in_blocks_give_the_same_arrays(
    app: Mendb, conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks far smaller than a row, or than the header, give the same result
    as one block holding everything."""
    from mendb.db import copy_stream

    _table(conn, "integer", "integer", list(range(64)))
    conn.execute("ALTER TABLE t ADD COLUMN v vector(3)")
    conn.execute("UPDATE t SET v = ARRAY[k, 1, -k]::real[]::vector WHERE k % 5 <> 0")
    dataset = datasets.register(
        conn, "d", "t", "k", "y", datasets.parse_feature_spec("a,v,b")
    )
    reads = []
    for block_bytes in (1 << 20, 1, 500):
        monkeypatch.setattr(copy_stream, "BLOCK_BYTES", block_bytes)
        reads.append(read_dataset(conn, dataset))
    for read in reads[1:]:
        assert read.fingerprint == reads[0].fingerprint
        for a, b in zip(
            (read.arrays.train, read.arrays.valid, read.arrays.test),
            (reads[0].arrays.train, reads[0].arrays.valid, reads[0].arrays.test),
            strict=True,
        ):
            np.testing.assert_array_equal(a.x, b.x)
            assert list(a.keys) == list(b.keys)
    train = reads[0].arrays.train
    for key, x in zip(train.keys, train.x, strict=True):
        k = int(key)
        expected = [np.nan] * 3 if k % 5 == 0 else [k, 1, -k]
        np.testing.assert_array_equal(x[1:4], expected)


def test_empty_table(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    _table(conn, "integer", "integer", [1, 2])
    dataset = _register(app, conn)
    conn.execute("DELETE FROM t")
    read = read_dataset(conn, dataset)
    assert read.rows_read == 0 and read.arrays.train.x.shape == (0, 2)


def test_the_null_marker_as_a_real_label_is_a_class(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    """Integer labels travel as themselves with a marker for null; a label equal
    to that marker is still a label."""
    _table(conn, "integer", "bigint", list(range(30)))
    conn.execute("UPDATE t SET y = -9223372036854775808 WHERE k % 2 = 0")
    read = read_dataset(conn, _register(app, conn))
    assert "-9223372036854775808" in read.arrays.classes
    _assert_matches_sql(conn, read)


def test_labels_of_two_types_across_a_validation_table(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    _table(conn, "integer", "integer", list(range(60)))
    conn.execute("CREATE TABLE h (k text PRIMARY KEY, a float8, b real, y text)")
    conn.execute("INSERT INTO h SELECT 'h' || k, a, b, (y + 1)::text FROM t")
    spec = SplitSpec(0.3, 0.2, 7, validation_table="public.h")
    dataset = datasets.register(
        conn, "d", "t", "k", "y", datasets.parse_feature_spec("a,b"), spec
    )
    arrays = read_dataset(conn, dataset).arrays
    assert arrays.classes == ("0", "1", "2", "3")
    labels = dict(conn.execute("SELECT k::text, y::text FROM t UNION ALL SELECT k, y FROM h"))
    for split in (arrays.train, arrays.valid, arrays.test):
        assert [arrays.classes[y] for y in split.y] == [labels[k] for k in split.keys]
    assert len(arrays.valid) + len(arrays.test) == 60
