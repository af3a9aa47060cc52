"""Apply accepted repairs, and revert applied ones, in one transaction per batch.

For each repair, in id order: lock the repair and the target row (`FOR UPDATE`),
check that the cell still holds the value the repair expects (optimistic
concurrency, compared in the column's type), write the new value and record the
status with `txid_current()`.
A repair whose row changed, or vanished, becomes `stale` and writes nothing. Two
callers applying at once serialise on the repair rows' locks, and the second one
finds nothing left to apply, so each repair is applied exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mendb.db import privileges
from mendb.db.datasets import Dataset
from mendb.db.errors import MendbError
from mendb.db.repairs import set_actor


@dataclass
class BatchReport:
    done: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[int]]:
        return {"done": self.done, "stale": self.stale}


def apply_repairs(
    conn: psycopg.Connection[Any], dataset: Dataset, actor: str | None = None
) -> BatchReport:
    """Apply every accepted repair of the dataset."""
    with conn.transaction():
        privileges.require_on_table(conn, dataset.table, ["SELECT", "UPDATE"], "apply repairs")
        set_actor(conn, actor)
        repairs = _lock_repairs(conn, dataset, "accepted", None, descending=False)
        return _run(
            conn,
            dataset,
            repairs,
            expect="old_value",
            write="new_value",
            status="applied",
            txid_column="applied_txid",
        )


def revert_repairs(
    conn: psycopg.Connection[Any],
    dataset: Dataset,
    ids: list[int] | None = None,
    actor: str | None = None,
) -> BatchReport:
    """Put back the old values of applied repairs (all of the dataset's, or `ids`),
    newest first, so that repairs stacked on one cell unwind in order."""
    with conn.transaction():
        privileges.require_on_table(conn, dataset.table, ["SELECT", "UPDATE"], "revert repairs")
        set_actor(conn, actor)
        repairs = _lock_repairs(conn, dataset, "applied", ids, descending=True)
        if ids:
            missing = sorted(set(ids) - {r["id"] for r in repairs})
            if missing:
                raise MendbError(
                    f"repair {missing[0]} of dataset {dataset.name!r} is not applied",
                    row=str(missing[0]),
                )
        return _run(
            conn,
            dataset,
            repairs,
            expect="new_value",
            write="old_value",
            status="reverted",
            txid_column="reverted_txid",
        )


def _lock_repairs(
    conn: psycopg.Connection[Any],
    dataset: Dataset,
    status: str,
    ids: list[int] | None,
    descending: bool,
) -> list[dict[str, Any]]:
    order = sql.SQL("DESC" if descending else "ASC")
    query = sql.SQL(
        "SELECT id, row_key, column_name, old_value, new_value FROM mendb.repairs"
        " WHERE dataset = %s AND status = %s AND (%s::bigint[] IS NULL OR id = ANY(%s))"
        " ORDER BY id {} FOR UPDATE"
    ).format(order)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, [dataset.name, status, ids, ids]).fetchall()


def _run(
    conn: psycopg.Connection[Any],
    dataset: Dataset,
    repairs: list[dict[str, Any]],
    *,
    expect: str,
    write: str,
    status: str,
    txid_column: str,
) -> BatchReport:
    report = BatchReport()
    writable = {dataset.label, *(f.name for f in dataset.features)}
    table, key = dataset.table.identifier, sql.Identifier(dataset.key)
    for repair in repairs:
        column = repair["column_name"]
        if column not in writable:
            raise MendbError(
                f"repair {repair['id']} targets column {column!r}, which is not the label or a"
                f" feature of dataset {dataset.name!r}",
                table=str(dataset.table),
                column=column,
                row=repair["row_key"],
            )
        target = sql.Identifier(column)
        # Compared as values of the column's type, not as text: '5.0' is the 5 that
        # a double precision column gives back as '5'.
        current = conn.execute(
            sql.SQL("SELECT {c} IS NOT DISTINCT FROM %s FROM {t} WHERE {k} = %s FOR UPDATE").format(
                c=target, t=table, k=key
            ),
            [repair[expect], repair["row_key"]],
        ).fetchall()
        if len(current) != 1 or not current[0][0]:
            _set_status(conn, repair["id"], "stale", None)
            report.stale.append(repair["id"])
            continue
        conn.execute(
            sql.SQL("UPDATE {t} SET {c} = %s WHERE {k} = %s").format(t=table, c=target, k=key),
            [repair[write], repair["row_key"]],
        )
        _set_status(conn, repair["id"], status, txid_column)
        report.done.append(repair["id"])
    return report


def _set_status(
    conn: psycopg.Connection[Any], repair_id: int, status: str, txid_column: str | None
) -> None:
    txid = sql.Identifier(txid_column) if txid_column else None
    query = (
        sql.SQL("UPDATE mendb.repairs SET status = %s, {} = txid_current() WHERE id = %s").format(
            txid
        )
        if txid
        else sql.SQL("UPDATE mendb.repairs SET status = %s WHERE id = %s")
    )
    conn.execute(query, [status, repair_id])
