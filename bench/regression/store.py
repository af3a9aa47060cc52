"""The loop cells' tables in PostgreSQL: one table per cell with a double precision
label, registered as a regression dataset, the noise planted by plain `UPDATE`s (as
a person recording numbers would), read back as mendb reads them. Reading and
dropping are `bench.loop.store`'s."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from psycopg import sql

from bench.loop.store import TEST_FRACTION, VALIDATION_FRACTION, cell_value, drop, read
from mendb.db import datasets
from mendb.db.datasets import SplitSpec
from mendb.server.context import Mendb
from mendb.valuation.data import Task

__all__ = ["create_table", "drop", "read", "register", "set_targets"]


def create_table(app: Mendb, table: str, features: pd.DataFrame,
                 target: NDArray[np.float64]) -> None:  # fmt: skip
    """Numeric columns as double precision, the others as text; `id` is the row's
    position, `label` the target."""
    numeric = [pd.api.types.is_numeric_dtype(features[c]) for c in features.columns]
    ident = sql.Identifier("public", table)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name),
                                sql.SQL("double precision" if is_num else "text"))
        for name, is_num in zip(features.columns, numeric, strict=True)
    )  # fmt: skip
    frame = features.astype(object).where(features.notna(), None)
    with app.connection() as conn, conn.transaction():
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ident))
        conn.execute(sql.SQL(
            "CREATE TABLE {} (id integer PRIMARY KEY, {}, label double precision NOT NULL)"
        ).format(ident, columns))  # fmt: skip
        with (
            conn.cursor() as cur,
            cur.copy(sql.SQL("COPY {} FROM STDIN").format(ident)) as copy,
        ):
            for key, row, value in zip(range(len(target)), frame.itertuples(index=False),
                                       target.tolist(), strict=True):  # fmt: skip
                copy.write_row([key, *(cell_value(v) for v in row), float(value)])


def register(app: Mendb, name: str, table: str, seed: int) -> None:
    """Register the table as a regression dataset, split by mendb 60 / 20 / 20."""
    split = SplitSpec(VALIDATION_FRACTION, TEST_FRACTION, seed, None)
    extra: dict[str, Any] = {}
    # The task is named where registration takes it; without it mendb infers it
    # from the label (a float with many distinct values is regression).
    if "task" in inspect.signature(datasets.register).parameters:
        extra["task"] = Task.REGRESSION
    with app.connection() as conn:
        datasets.register(conn, name, f"public.{table}", "id", "label", split=split, **extra)


def set_targets(app: Mendb, table: str, keys: list[int], values: list[float]) -> None:
    """One UPDATE per row, in one transaction."""
    query = sql.SQL("UPDATE {} SET label = %s WHERE id = %s").format(
        sql.Identifier("public", table)
    )
    with app.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(query, [(float(v), int(k)) for k, v in zip(keys, values, strict=True)])
