"""The benchmark's tables in PostgreSQL: create one from a frame, register it with
mendb (with or without a trusted validation table), record labels by plain SQL
(that is how the noise is planted), read the rows back as mendb sees them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from psycopg import sql

from mendb.db import datasets
from mendb.db.datasets import SplitSpec
from mendb.server import operations
from mendb.server.context import Mendb
from mendb.valuation.data import TrainingArrays

VALIDATION_FRACTION = 0.2
TEST_FRACTION = 0.2


def cell_value(value: Any) -> Any:
    """A frame's cell as COPY writes it: a missing one as NULL, numpy scalars as Python's."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def create_table(
    app: Mendb, table: str, features: pd.DataFrame, labels: NDArray[np.str_],
    keys: NDArray[np.int64],
) -> None:  # fmt: skip
    """Numeric columns become double precision, the others text (mendb registers
    a text column with few levels as a categorical feature)."""
    numeric = [pd.api.types.is_numeric_dtype(features[c]) for c in features.columns]
    ident = sql.Identifier("public", table)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(
            sql.Identifier(name), sql.SQL("double precision" if is_num else "text")
        )
        for name, is_num in zip(features.columns, numeric, strict=True)
    )
    frame = features.astype(object).where(features.notna(), None)
    with app.connection() as conn, conn.transaction():
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ident))
        conn.execute(
            sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, {}, label text NOT NULL)").format(
                ident, columns
            )
        )
        with (
            conn.cursor() as cur,
            cur.copy(sql.SQL("COPY {} FROM STDIN").format(ident)) as copy,
        ):
            for key, row, label in zip(
                keys.tolist(), frame.itertuples(index=False), labels.tolist(), strict=True
            ):
                copy.write_row([key, *(cell_value(v) for v in row), label])


def register(app: Mendb, name: str, table: str, seed: int, validation_table: str | None) -> None:
    with app.connection() as conn:
        datasets.register(
            conn, name, f"public.{table}", "id", "label",
            split=SplitSpec(VALIDATION_FRACTION, TEST_FRACTION, seed,
                            f"public.{validation_table}" if validation_table else None),
        )  # fmt: skip


def set_labels(app: Mendb, table: str, keys: list[str], labels: list[str]) -> None:
    """One UPDATE per row, in one transaction, as a person fixing records would."""
    query = sql.SQL("UPDATE {} SET label = %s WHERE id = %s").format(
        sql.Identifier("public", table)
    )
    with app.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(query, [(label, int(key)) for key, label in zip(keys, labels, strict=True)])


def read(app: Mendb, name: str) -> TrainingArrays:
    """The rows as mendb reads them (raw: categorical codes, NaN for null)."""
    with app.connection() as conn:
        return operations.load(conn, name)[2].arrays


def drop(app: Mendb, name: str, tables: list[str]) -> None:
    """Forget an earlier attempt at this cell (a resumed run starts it afresh)."""
    with app.connection() as conn, conn.transaction():
        conn.execute("DELETE FROM mendb.datasets WHERE name = %s", [name])
        for table in tables:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier("public", table))
            )
