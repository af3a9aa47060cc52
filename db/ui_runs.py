"""What the review page's runs and rounds read besides `db.jobs` and `db.rounds`:
a dataset's loops to choose from, and the small progress record the run page polls."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from mendb.db.errors import NotFound
from mendb.db.queries import query

LOOPS_SHOWN = 50  # the loops a rounds page offers; older ones stay in mendb.runs


def loops_of(conn: psycopg.Connection[Any], dataset: str) -> list[dict[str, Any]]:
    """The dataset's loops, newest first, each with its number of rounds."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            query("ui_runs_loops"), {"dataset": dataset, "limit": LOOPS_SHOWN}
        ).fetchall()


def progress(conn: psycopg.Connection[Any], run_id: int) -> dict[str, Any]:
    """The run's status, progress (0..1), whether a cancel was asked for, and
    `eta_seconds` while it runs."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query("ui_runs_progress"), {"run_id": run_id}).fetchone()
    if row is None:
        raise NotFound(f"no run with id {run_id}", table="mendb.runs", row=str(run_id))
    return row
