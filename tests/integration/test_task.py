"""A dataset's task: given (`--task`) or told from the label's type and values,
stored, refused by name when it cannot be told; a regression dataset read as float
targets by the same binary COPY and split; stored predictions checked and read."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from mendb.db import datasets
from mendb.db.datasets import SplitSpec
from mendb.db.errors import InvalidDataset, UnknownColumn
from mendb.db.features import (
    CLASSIFICATION_MAX_LEVELS,
    REGRESSION_MIN_LEVELS,
    AmbiguousTask,
    NonNumericTarget,
)
from mendb.db.read import read_dataset
from mendb.db.stored_predictions import UnsupportedPredictions, check_predictions
from mendb.server.context import Mendb
from mendb.valuation.data import Task
from tests.factories import make_table


def make_target_table(
    conn: psycopg.Connection[Any],
    name: str = "scores",
    n: int = 150,
    label_type: str = "integer",
    key_type: str = "integer",
    seed: int = 0,
) -> dict[str, float]:
    """A table whose label is a numeric score of two features (with noise), plus a
    column `guess` of predictions; returns the labels as written, by key text."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = np.round(150 + 40 * x[:, 0] - 25 * x[:, 1] + rng.normal(scale=10, size=n))
    if label_type != "integer":
        y = y + 0.25
    table = sql.Identifier(name)
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id {} PRIMARY KEY, a float8, b real, y {}, guess float8)"
        ).format(table, sql.SQL(key_type), sql.SQL(label_type))
    )
    keys = [i if key_type == "integer" else f"r{i:03d}" for i in range(n)]
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
        for i, key in enumerate(keys):
            target = int(y[i]) if label_type == "integer" else float(y[i])
            copy.write_row([key, float(x[i, 0]), float(x[i, 1]), target, float(y[i]) + 1.5])
    return {str(key): float(value) for key, value in zip(keys, y, strict=True)}


def registered(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute("SELECT name, task FROM mendb.datasets")]


def test_an_integer_score_with_many_values_is_regression(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    labels = make_target_table(conn)
    assert len(set(labels.values())) >= REGRESSION_MIN_LEVELS
    dataset = datasets.register(conn, "d", "scores", "id", "y", [("a", None), ("b", None)])
    assert dataset.task is Task.REGRESSION
    assert registered(conn) == [("d", "regression")]
    assert datasets.get(conn, "d").task is Task.REGRESSION
    assert dataset.to_dict()["task"] == "regression"


def test_a_zero_one_integer_is_classification(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn)
    assert datasets.register(conn, "d", "train", "id", "label").task is Task.CLASSIFICATION
    assert registered(conn) == [("d", "classification")]


def test_a_float_with_six_values_is_refused_asking_for_the_task(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_target_table(conn, label_type="double precision")
    conn.execute("UPDATE scores SET y = (id % 6) + 0.5")
    with pytest.raises(AmbiguousTask, match="--task") as caught:
        datasets.register(conn, "d", "scores", "id", "y")
    message = str(caught.value)
    assert "double precision" in message and "6 distinct values" in message
    assert caught.value.column == "y" and caught.value.table == "public.scores"
    assert isinstance(caught.value, InvalidDataset)
    assert registered(conn) == []
    # Said either way, it is taken.
    given = datasets.register(conn, "c", "scores", "id", "y", task="classification")
    assert given.task is Task.CLASSIFICATION
    given = datasets.register(conn, "r", "scores", "id", "y", task=Task.REGRESSION)
    assert given.task == "regression"


def test_integers_between_the_thresholds_are_ambiguous(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_target_table(conn, n=400)
    levels = CLASSIFICATION_MAX_LEVELS + 10
    conn.execute(sql.SQL("UPDATE scores SET y = id % {}").format(sql.Literal(levels)))
    with pytest.raises(AmbiguousTask, match=f"{levels} distinct values in 400 rows"):
        datasets.register(conn, "d", "scores", "id", "y")
    conn.execute("UPDATE scores SET y = id % 15")  # a few integers: classes
    assert datasets.register(conn, "d", "scores", "id", "y").task is Task.CLASSIFICATION


def test_a_small_table_of_measurements_is_regression(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_target_table(conn, n=40, label_type="real")
    conn.execute("UPDATE scores SET y = id * 1.5 + 0.1")
    assert datasets.register(conn, "d", "scores", "id", "y").task is Task.REGRESSION


def test_a_text_label_cannot_be_a_regression_target(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn)
    with pytest.raises(NonNumericTarget, match=r"'colour'.*type text") as caught:
        datasets.register(conn, "d", "train", "id", "colour", task="regression")
    assert caught.value.column == "colour"
    with pytest.raises(InvalidDataset, match="task 'numbers'"):
        datasets.register(conn, "d", "train", "id", "label", task="numbers")
    assert registered(conn) == []


@pytest.mark.parametrize(
    ("update", "named"),
    [
        ("UPDATE scores SET y = NULL WHERE id = 7", "1 null values, e.g. in row '7'"),
        ("UPDATE scores SET y = 'NaN' WHERE id = 9", "is NaN in row '9'"),
        ("UPDATE scores SET y = '-Infinity' WHERE id = 4", "is -Infinity in row '4'"),
        ("UPDATE scores SET y = 3", "1 distinct value"),
    ],
)
def test_a_bad_target_is_named(
    app: Mendb, conn: psycopg.Connection[Any], update: str, named: str
) -> None:
    make_target_table(conn, label_type="double precision")
    conn.execute(update)
    with pytest.raises(InvalidDataset, match=named) as caught:
        datasets.register(conn, "d", "scores", "id", "y", task="regression")
    assert caught.value.column == "y"
    assert registered(conn) == []


def _split_units(conn: psycopg.Connection[Any], table: str, seed: int) -> dict[str, float]:
    query = sql.SQL("SELECT id::text, mendb.split_unit(%s, id::text) FROM {}").format(
        sql.Identifier(table)
    )
    return {r[0]: float(r[1]) for r in conn.execute(query, [seed])}


@pytest.mark.parametrize("key_type", ["integer", "text"])
@pytest.mark.parametrize("label_type", ["integer", "numeric", "real", "double precision"])
def test_a_regression_dataset_reads_its_targets(
    app: Mendb, conn: psycopg.Connection[Any], key_type: str, label_type: str
) -> None:
    labels = make_target_table(conn, label_type=label_type, key_type=key_type)
    dataset = datasets.register(
        conn, "d", "scores", "id", "y", [("a", None), ("b", None)], SplitSpec(0.3, 0.2, 5),
        task="regression",
    )  # fmt: skip
    arrays = read_dataset(conn, dataset).arrays
    assert arrays.task is Task.REGRESSION and arrays.classes == () and arrays.n_classes == 0
    assert arrays.predictions is None
    units = _split_units(conn, "scores", 5)
    seen = set()
    for split, part in ((arrays.train, 0), (arrays.valid, 1), (arrays.test, 2)):
        assert split.y.dtype == np.float64
        assert split.y.tolist() == [labels[k] for k in split.keys]
        for key in split.keys:
            assert (1 if units[key] < 0.3 else 2 if units[key] < 0.5 else 0) == part
        seen |= set(split.keys)
    assert seen == set(labels)


def test_a_regression_target_across_a_validation_table(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    train = make_target_table(conn, label_type="double precision")
    held = make_target_table(conn, "held", n=60, label_type="double precision", seed=1)
    dataset = datasets.register(
        conn, "d", "scores", "id", "y", [("a", None)], SplitSpec(0.5, 0.5, 0, "held")
    )
    assert dataset.task is Task.REGRESSION
    arrays = read_dataset(conn, dataset).arrays
    assert arrays.train.y.tolist() == [train[k] for k in arrays.train.keys]
    assert len(arrays.train) == len(train)
    for split in (arrays.valid, arrays.test):
        assert split.y.tolist() == [held[k] for k in split.keys]


def test_a_target_made_null_after_registration_is_named(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_target_table(conn, label_type="double precision")
    dataset = datasets.register(conn, "d", "scores", "id", "y")
    conn.execute("UPDATE scores SET y = NULL WHERE id = 31")
    with pytest.raises(InvalidDataset, match=r"'y'.*null, NaN or infinite in row '31'") as caught:
        read_dataset(conn, dataset)
    assert caught.value.row == "31"


def test_stored_regression_predictions_are_read_for_the_training_rows(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    labels = make_target_table(conn)
    dataset = datasets.register(conn, "d", "scores", "id", "y", [("a", None), ("b", None)])
    plain = read_dataset(conn, dataset)
    check_predictions(conn, dataset, "guess")
    read = read_dataset(conn, dataset, predictions="guess")
    arrays = read.arrays
    assert arrays.predictions is not None
    assert arrays.predictions.tolist() == [labels[k] + 1.5 for k in arrays.train.keys]
    for mine, theirs in zip(
        (arrays.train, arrays.valid, arrays.test),
        (plain.arrays.train, plain.arrays.valid, plain.arrays.test),
        strict=True,
    ):
        np.testing.assert_array_equal(mine.x, theirs.x)
        np.testing.assert_array_equal(mine.y, theirs.y)
        assert list(mine.keys) == list(theirs.keys)
    # Only the training rows need one.
    outside = arrays.valid.keys[0]
    conn.execute("UPDATE scores SET guess = NULL WHERE id::text = %s", [outside])
    read_dataset(conn, dataset, predictions="guess")
    inside = arrays.train.keys[3]
    conn.execute("UPDATE scores SET guess = NULL WHERE id::text = %s", [inside])
    with pytest.raises(InvalidDataset, match=f"null in training row '{inside}'") as caught:
        read_dataset(conn, dataset, predictions="guess")
    assert caught.value.column == "guess" and caught.value.row == inside


def test_a_binary_labels_stored_probability_becomes_class_probabilities(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn, n=80)
    conn.execute("ALTER TABLE train ADD COLUMN p real")
    conn.execute("UPDATE train SET p = (id % 10) / 10.0")
    dataset = datasets.register(conn, "d", "train", "id", "label", [("a", None), ("b", None)])
    check_predictions(conn, dataset, "p")
    for key_type in ("integer", "text"):
        if key_type == "text":
            conn.execute("ALTER TABLE train ALTER id TYPE text")
        arrays = read_dataset(conn, dataset, predictions="p").arrays
        assert arrays.predictions is not None and arrays.predictions.shape == (len(arrays.train), 2)
        expected = np.array([int(k) % 10 / 10 for k in arrays.train.keys])
        np.testing.assert_allclose(arrays.predictions[:, 1], expected, atol=1e-7)
        np.testing.assert_allclose(arrays.predictions.sum(axis=1), 1.0)
    conn.execute("UPDATE train SET p = 1.5 WHERE id = %s", [arrays.train.keys[0]])
    with pytest.raises(InvalidDataset, match=r"is 1\.5 in training row.*between 0 and 1"):
        read_dataset(conn, dataset, predictions="p")


@pytest.mark.parametrize(
    ("column", "error", "named"),
    [
        ("nope", UnknownColumn, "nope"),
        ("label", InvalidDataset, "key or label"),
        ("note", UnsupportedPredictions, "type text"),
        ("probs", UnsupportedPredictions, "double precision[]"),
        ("emb", UnsupportedPredictions, "vector(2)"),
    ],
)
def test_a_predictions_column_mendb_cannot_read_is_named(
    app: Mendb, conn: psycopg.Connection[Any], column: str, error: type[Exception], named: str
) -> None:
    make_table(conn)
    conn.execute("ALTER TABLE train ADD COLUMN probs float8[], ADD COLUMN emb vector(2)")
    dataset = datasets.register(conn, "d", "train", "id", "label", [("a", None)])
    with pytest.raises(error, match=re.escape(named)):
        check_predictions(conn, dataset, column)
    with pytest.raises(error):
        read_dataset(conn, dataset, predictions=column)


def test_a_numeric_probability_needs_a_binary_label(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn)
    conn.execute("UPDATE train SET label = id % 3")
    conn.execute("ALTER TABLE train ADD COLUMN p float8 DEFAULT 0.5")
    dataset = datasets.register(conn, "d", "train", "id", "label", [("a", None)])
    with pytest.raises(UnsupportedPredictions, match="has 3 classes"):
        check_predictions(conn, dataset, "p")
    with pytest.raises(UnsupportedPredictions, match="has 3 classes"):
        read_dataset(conn, dataset, predictions="p")
