"""The `mendb.runs` table: one row per valuation, proposal or apply job."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from db.errors import NotFound


def _dumps(value: Any) -> str:
    # Parameters may hold objects (an executor, a model): stored by their repr.
    return json.dumps(value, default=repr)


def params_json(params: dict[str, Any]) -> Jsonb:
    return Jsonb(params, dumps=_dumps)


def create(
    conn: psycopg.Connection[Any],
    dataset: str,
    kind: str,
    method: str | None,
    params: dict[str, Any],
    status: str = "running",
) -> int:
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO mendb.runs (dataset, kind, method, params, status, started_at)"
            " VALUES (%s, %s, %s, %s, %s, CASE WHEN %s = 'running' THEN now() END)"
            " RETURNING id",
            [dataset, kind, method, params_json(params), status, status],
        ).fetchone()
    assert row is not None
    return int(row[0])


def set_progress(conn: psycopg.Connection[Any], run_id: int, fraction: float) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE mendb.runs SET progress = %s WHERE id = %s",
            [min(max(fraction, 0.0), 1.0), run_id],
        )


def set_params(conn: psycopg.Connection[Any], run_id: int, params: dict[str, Any]) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE mendb.runs SET params = %s WHERE id = %s", [params_json(params), run_id]
        )


def finish(
    conn: psycopg.Connection[Any],
    run_id: int,
    *,
    metrics: dict[str, Any] | None = None,
    diagnostics: dict[str, Any] | None = None,
    rows_read: int | None = None,
    fingerprint: str | None = None,
) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE mendb.runs SET status = 'done', progress = 1, finished_at = clock_timestamp(),"
            " metrics = %s, diagnostics = %s, rows_read = coalesce(%s, rows_read),"
            " fingerprint = coalesce(%s, fingerprint) WHERE id = %s",
            [Jsonb(metrics or {}), Jsonb(diagnostics or {}), rows_read, fingerprint, run_id],
        )


def fail(conn: psycopg.Connection[Any], run_id: int, error: str) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE mendb.runs SET status = 'failed', error = %s, finished_at = clock_timestamp()"
            " WHERE id = %s",
            [error, run_id],
        )


def get(conn: psycopg.Connection[Any], run_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM mendb.runs WHERE id = %s", [run_id]).fetchone()
    if row is None:
        raise NotFound(f"no run with id {run_id}", row=str(run_id))
    return row


def latest_value_run(
    conn: psycopg.Connection[Any], dataset: str, method: str | None = None
) -> dict[str, Any] | None:
    """The newest finished valuation of the dataset (of one method, if given)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM mendb.runs WHERE dataset = %s AND kind = 'value' AND status = 'done'"
            " AND (%s::text IS NULL OR method = %s) ORDER BY finished_at DESC, id DESC LIMIT 1",
            [dataset, method, method],
        ).fetchone()


def add_diagnostics(conn: psycopg.Connection[Any], run_id: int, extra: dict[str, Any]) -> None:
    """Merge `extra` into the run's diagnostics."""
    with conn.transaction():
        conn.execute(
            "UPDATE mendb.runs SET diagnostics = diagnostics || %s WHERE id = %s",
            [params_json(extra), run_id],
        )
