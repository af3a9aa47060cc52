"""Continuous mode: the keys of rows changed in a registered table.

A row-level trigger on the dataset's table records each inserted, updated or
deleted key in `mendb.row_changes` (one row per key, the latest change), and
`mendb.row_values` shows a score as stale when its row changed after the run that
computed it started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mendb.db import jobs, privileges
from mendb.db.catalog import TableRef
from mendb.db.errors import MissingPrivilege
from mendb.db.queries import query


def trigger_name(dataset: str) -> sql.Identifier:
    return sql.Identifier(f"mendb_changes_{dataset}")


def attach(conn: psycopg.Connection[Any], dataset: str, table: TableRef, key: str) -> None:
    """Attach (or re-attach) the change trigger to the dataset's table. The table and
    key have been checked against the catalog by the caller; the grants the trigger
    needs are checked here, before it is created."""
    privileges.require_trigger_function(conn)
    privileges.require_on_table(conn, table, ["TRIGGER"], "record which of its rows change")
    with conn.transaction():
        conn.execute(
            query("changes_attach_trigger").format(
                name=trigger_name(dataset),
                table=table.identifier,
                dataset=sql.Literal(dataset),
                key=sql.Literal(key),
            )
        )


def attach_all(conn: psycopg.Connection[Any]) -> list[str]:
    """Attach the trigger to every registered dataset whose table still exists
    (datasets registered before continuous mode existed) and on which mendb's role
    holds TRIGGER; returns their names. A table without the grant is left as it is:
    the watcher goes on for the others."""
    rows = conn.execute(query("changes_datasets_with_tables"), {}).fetchall()
    attached = []
    for name, schema, table, key in rows:
        try:
            attach(conn, name, TableRef(schema, table), key)
        except MissingPrivilege:
            continue
        attached.append(name)
    return attached


def stale_counts(conn: psycopg.Connection[Any], method: str) -> list[dict[str, Any]]:
    """Per dataset with a finished valuation of `method`: how many rows changed since
    that run started, whether a valuation is already queued or running, and the
    latest run's parameters."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query("changes_stale_counts"), {"method": method}).fetchall()


_WATCH_LOCK = 0x6D656E6477  # "mendw": one watcher at a time decides


def request_revaluations(
    conn: psycopg.Connection[Any],
    method: str,
    threshold: int,
    params_of: Callable[[dict[str, Any]], dict[str, Any]],
    actor: str,
) -> list[int]:
    """Queue a valuation with `method` for every dataset where at least `threshold`
    rows changed since its latest one and none is queued or running; `params_of`
    turns the latest run's parameters into the new run's. Returns the new run ids."""
    queued: list[int] = []
    with conn.transaction():
        conn.execute(query("changes_watch_lock"), {"lock": _WATCH_LOCK})
        for row in stale_counts(conn, method):
            if row["changed"] >= threshold and not row["pending"]:
                params = {**params_of(row["params"]), "method": method}
                queued.append(jobs.request(conn, "value", row["dataset"], params, actor))
    return queued
