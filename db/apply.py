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
from mendb.db.queries import query
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
        with conn.cursor(row_factory=dict_row) as cur:
            repairs = cur.execute(
                query("apply_lock_accepted"), {"dataset": dataset.name}
            ).fetchall()
        return _run(conn, dataset, repairs, expect="old_value", write="new_value",
                    mark=query("apply_mark_applied"))  # fmt: skip


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
        with conn.cursor(row_factory=dict_row) as cur:
            repairs = cur.execute(
                query("apply_lock_applied"), {"dataset": dataset.name, "ids": ids}
            ).fetchall()
        if ids:
            missing = sorted(set(ids) - {r["id"] for r in repairs})
            if missing:
                raise MendbError(
                    f"repair {missing[0]} of dataset {dataset.name!r} is not applied",
                    row=str(missing[0]),
                )
        return _run(conn, dataset, repairs, expect="new_value", write="old_value",
                    mark=query("apply_mark_reverted"))  # fmt: skip


def _run(
    conn: psycopg.Connection[Any],
    dataset: Dataset,
    repairs: list[dict[str, Any]],
    *,
    expect: str,
    write: str,
    mark: sql.SQL,
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
            query("apply_cell_holds").format(column=target, table=table, key=key),
            {"expected": repair[expect], "row_key": repair["row_key"]},
        ).fetchall()
        if len(current) != 1 or not current[0][0]:
            conn.execute(query("apply_mark_stale"), {"repair_id": repair["id"]})
            report.stale.append(repair["id"])
            continue
        conn.execute(
            query("apply_write_cell").format(column=target, table=table, key=key),
            {"value": repair[write], "row_key": repair["row_key"]},
        )
        conn.execute(mark, {"repair_id": repair["id"]})
        report.done.append(repair["id"])
    return report
