"""The `mendb.runs` table: one row per valuation, proposal or apply job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from mendb.db.errors import NotFound
from mendb.db.queries import query


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"  # a loop waiting for the review of its round's proposals
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Run:
    """One row of `mendb.runs`: a valuation, proposal, apply or revert job, or a loop."""

    id: int
    dataset: str
    kind: str
    method: str | None
    params: dict[str, Any]
    status: RunStatus
    metrics: dict[str, Any]
    diagnostics: dict[str, Any]
    requested_by: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        return cls(
            id=int(row["id"]), dataset=row["dataset"], kind=row["kind"], method=row["method"],
            params=row["params"], status=RunStatus(row["status"]), metrics=row["metrics"],
            diagnostics=row["diagnostics"], requested_by=row["requested_by"],
        )  # fmt: skip


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
    status: RunStatus = RunStatus.RUNNING,
) -> int:
    with conn.transaction():
        row = conn.execute(
            query("create_run"),
            {"dataset": dataset, "kind": kind, "method": method,
             "params": params_json(params), "status": str(status)},
        ).fetchone()
    assert row is not None
    return int(row[0])


def set_progress(conn: psycopg.Connection[Any], run_id: int, fraction: float) -> None:
    with conn.transaction():
        conn.execute(
            query("set_run_progress"),
            {"progress": min(max(fraction, 0.0), 1.0), "run_id": run_id},
        )


def set_params(conn: psycopg.Connection[Any], run_id: int, params: dict[str, Any]) -> None:
    with conn.transaction():
        conn.execute(query("set_run_params"), {"params": params_json(params), "run_id": run_id})


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
            query("finish_run"),
            {"metrics": Jsonb(metrics or {}), "diagnostics": Jsonb(diagnostics or {}),
             "rows_read": rows_read, "fingerprint": fingerprint, "run_id": run_id},
        )


def fail(conn: psycopg.Connection[Any], run_id: int, error: str) -> None:
    with conn.transaction():
        conn.execute(query("fail_run"), {"error": error, "run_id": run_id})


def get(conn: psycopg.Connection[Any], run_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query("get_run"), {"run_id": run_id}).fetchone()
    if row is None:
        raise NotFound(f"no run with id {run_id}", row=str(run_id))
    return row


def load(conn: psycopg.Connection[Any], run_id: int) -> Run:
    return Run.from_row(get(conn, run_id))


def latest_value_run(
    conn: psycopg.Connection[Any], dataset: str, method: str | None = None
) -> dict[str, Any] | None:
    """The newest finished valuation of the dataset (of one method, if given)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            query("latest_value_run"), {"dataset": dataset, "method": method}
        ).fetchone()


def add_diagnostics(conn: psycopg.Connection[Any], run_id: int, extra: dict[str, Any]) -> None:
    """Merge `extra` into the run's diagnostics."""
    with conn.transaction():
        conn.execute(
            query("add_run_diagnostics"), {"extra": params_json(extra), "run_id": run_id}
        )


def value_methods(conn: psycopg.Connection[Any], dataset: str) -> list[str]:
    """The methods with a finished valuation of the dataset, consensus aside."""
    rows = conn.execute(query("dataset_value_methods"), {"dataset": dataset}).fetchall()
    return [str(row[0]) for row in rows]
