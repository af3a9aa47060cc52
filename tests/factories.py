"""Tables the tests value and repair, made with plain SQL on the test database."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
from psycopg import sql


def make_table(
    conn: psycopg.Connection[Any],
    name: str = "train",
    n: int = 60,
    seed: int = 0,
    schema: str = "public",
) -> np.ndarray[Any, Any]:
    """A two-class table with two informative numeric features, a categorical and a
    free-text column; returns the labels as written."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 2)) + 2.5 * y[:, None]
    colours = np.array(["red", "green", "blue"])[rng.integers(0, 3, n)]
    table = sql.Identifier(schema, name)
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id integer PRIMARY KEY, a double precision, b real,"
                " colour text, note text, label integer NOT NULL)"
            ).format(table)
        )
        with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
            for i in range(n):
                note = f"free text number {i} about nothing in particular, said at length"
                copy.write_row([i, float(x[i, 0]), float(x[i, 1]), colours[i], note, int(y[i])])
    return y


def table_md5(conn: psycopg.Connection[Any], name: str = "train") -> str:
    query = sql.SQL("SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {} AS t").format(
        sql.Identifier(name)
    )
    row = conn.execute(query).fetchone()
    assert row is not None
    return str(row[0])


def make_imbalanced_table(
    conn: psycopg.Connection[Any],
    name: str = "train",
    n: int = 600,
    minority: float = 0.25,
    separation: float = 1.6,
    seed: int = 0,
) -> np.ndarray[Any, Any]:
    """A two-class table whose class 1 is a `minority` share of the rows and whose
    classes overlap (their means `separation` standard deviations apart, in three
    numeric features); returns the labels as written."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < minority).astype(np.int64)
    x = rng.normal(size=(n, 3)) + separation / np.sqrt(3) * y[:, None]
    table = sql.Identifier(name)
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id integer PRIMARY KEY, a double precision,"
                " b double precision, c double precision, label integer NOT NULL)"
            ).format(table)
        )
        with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
            for i in range(n):
                copy.write_row([i, *map(float, x[i]), int(y[i])])
    return y
