"""What proposing reads besides the dataset's rows: which text columns have cached
embeddings of a model, and the table's state for the suspects (`TableState`: the
rows with an open repair, the cells as the table holds them now)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from mendb.db.datasets import Dataset
from mendb.db.queries import query
from mendb.db.repairs import RepairStatus, find
from mendb.repair.proposals import TableState


def cached_models(
    conn: psycopg.Connection[Any], dataset: Dataset, model: str
) -> dict[str, tuple[str, int]]:
    """Text features with cached embeddings of `model`: column -> (model, dims)."""
    rows = conn.execute(
        query("propose_cached_models"),
        {"dataset": dataset.name, "model": model, "table_name": str(dataset.table)},
    ).fetchall()
    text = {f.name for f in dataset.features if f.kind == "text"}
    return {column: (model, int(dims)) for column, dims in rows if column in text}


def table_state(
    conn: psycopg.Connection[Any], dataset: Dataset, keys: Sequence[str], columns: Sequence[str]
) -> TableState:
    """The rows of `dataset` with an open (proposed or accepted) repair, and the cells
    of the rows `keys` in `columns` as the table holds them now."""
    open_statuses = [RepairStatus.PROPOSED, RepairStatus.ACCEPTED]
    open_rows = frozenset(r.row_key for r in find(conn, dataset.name, status=open_statuses))
    return TableState(open_rows, current_cells(conn, dataset, keys, columns))


def current_cells(
    conn: psycopg.Connection[Any], dataset: Dataset, keys: Sequence[str], columns: Sequence[str]
) -> dict[str, dict[str, str | None]]:
    """column -> row key -> the cell in PostgreSQL's text form, for the rows `keys`
    (a key no row has is left out)."""
    names = list(dict.fromkeys(columns))
    if not keys or not names:
        return {name: {} for name in names}
    cells = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(n)) for n in names)
    statement = query("propose_current_cells").format(
        key=sql.Identifier(dataset.key), cells=cells, table=dataset.table.identifier
    )
    rows = conn.execute(statement, {"keys": list(keys)}).fetchall()
    return {
        name: {row[0]: row[position] for row in rows}
        for position, name in enumerate(names, start=1)
    }
