"""`mendb.runs` as a job queue.

A job is a run with status 'queued'. A worker claims the oldest one with
`FOR UPDATE SKIP LOCKED` and holds a lease on it, which it renews while it works;
a job whose lease ran out (its worker died) is queued again, up to `max_attempts`
times. Inserting or re-queueing a job notifies the channel `mendb_jobs`, which the
workers LISTEN on. Finishing a job first takes the run's row lock and checks that
this worker still holds it, so a job is finished exactly once.

Each worker also beats in `mendb.workers`, busy or idle, so that the service can
tell a queue that is being served from one that nobody serves.
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from mendb.db.errors import Cancelled, Conflict, LeaseLost, MendbError, NotFound, UnknownDataset
from mendb.db.queries import query
from mendb.db.repairs import set_actor

CHANNEL = "mendb_jobs"
KINDS = ("value", "propose", "apply", "revert")
Lease = Literal["held", "cancel", "lost"]


def request(
    conn: psycopg.Connection[Any],
    kind: str,
    dataset: str,
    params: dict[str, Any],
    actor: str | None = None,
) -> int:
    """Queue a job through `mendb.request`, as a psql user would; returns its id."""
    try:
        with conn.transaction():
            set_actor(conn, actor)
            row = conn.execute(
                query("jobs_request"),
                {"kind": kind, "dataset": dataset, "params": Jsonb(params)},
            ).fetchone()
    except psycopg.errors.NoDataFound as error:
        raise UnknownDataset(_message(error), table="mendb.datasets", row=dataset) from error
    except psycopg.errors.InvalidParameterValue as error:
        raise MendbError(_message(error), table="mendb.runs", column="kind") from error
    assert row is not None
    return int(row[0])


def listen(conn: psycopg.Connection[Any]) -> None:
    """Receive a notification on this (autocommit) connection for each new job."""
    conn.execute(query("jobs_listen").format(channel=sql.Identifier(CHANNEL)))


def _message(error: psycopg.Error) -> str:
    return error.diag.message_primary or str(error)


def claim(
    conn: psycopg.Connection[Any], worker_id: str, lease_seconds: float
) -> dict[str, Any] | None:
    """Take the oldest queued job, or None when there is none."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            query("jobs_claim"), {"worker_id": worker_id, "lease_seconds": lease_seconds}
        ).fetchone()


def renew(
    conn: psycopg.Connection[Any], run_id: int, worker_id: str, lease_seconds: float
) -> Lease:
    """Extend the lease; says whether it is still held and whether to cancel."""
    with conn.transaction():
        row = conn.execute(
            query("jobs_renew"),
            {"lease_seconds": lease_seconds, "run_id": run_id, "worker_id": worker_id},
        ).fetchone()
    if row is None:
        return "lost"
    return "cancel" if row[0] else "held"


def hold(conn: psycopg.Connection[Any], run_id: int, worker_id: str | None) -> None:
    """Lock the run for the rest of the caller's transaction and check that this
    worker (None: the command line, which holds no lease) may still finish it."""
    row = conn.execute(query("jobs_hold"), {"run_id": run_id}).fetchone()
    if row is None:
        raise NotFound(f"no run with id {run_id}", table="mendb.runs", row=str(run_id))
    status, holder, cancel = row
    if status != "running" or (worker_id is not None and holder != worker_id):
        raise LeaseLost(f"run {run_id} is no longer held by this worker", row=str(run_id))
    if cancel:
        raise Cancelled(f"run {run_id} was cancelled", row=str(run_id))


def finish(
    conn: psycopg.Connection[Any], run_id: int, worker_id: str, metrics: dict[str, Any]
) -> None:
    with conn.transaction():
        hold(conn, run_id, worker_id)
        conn.execute(query("jobs_finish"), {"metrics": Jsonb(metrics), "run_id": run_id})


def end(
    conn: psycopg.Connection[Any],
    run_id: int,
    worker_id: str,
    status: Literal["failed", "cancelled"],
    error: str | None = None,
) -> bool:
    """Mark the job failed or cancelled, if this worker still holds it."""
    with conn.transaction():
        row = conn.execute(
            query("jobs_end"),
            {"status": str(status), "error": error, "run_id": run_id, "worker_id": worker_id},
        ).fetchone()
    return row is not None


def requeue_expired(conn: psycopg.Connection[Any], max_attempts: int) -> list[int]:
    """Queue again the running jobs whose lease ran out; fail those that have used
    up their attempts. Returns the ids queued again."""
    with conn.transaction():
        conn.execute(query("jobs_fail_exhausted"), {"max_attempts": max_attempts})
        rows = conn.execute(query("jobs_requeue_expired")).fetchall()
    return sorted(int(r[0]) for r in rows)


def cancel(conn: psycopg.Connection[Any], run_id: int) -> dict[str, Any]:
    """Cancel a queued job at once, or ask the worker of a running one to stop."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query("jobs_cancel"), {"run_id": run_id}).fetchone()
        if row is None:
            raise NotFound(f"no run with id {run_id}", table="mendb.runs", row=str(run_id))
        if row["status"] in ("done", "failed"):
            raise Conflict(
                f"run {run_id} is already {row['status']}", table="mendb.runs", row=str(run_id)
            )
    return row


def status(conn: psycopg.Connection[Any], run_id: int) -> dict[str, Any]:
    """The run with `eta_seconds`: elapsed / progress * (1 - progress) while running."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query("jobs_status"), {"run_id": run_id}).fetchone()
    if row is None:
        raise NotFound(f"no run with id {run_id}", table="mendb.runs", row=str(run_id))
    return row


def list_runs(
    conn: psycopg.Connection[Any],
    dataset: str | None,
    statuses: list[str] | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Runs, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            query("jobs_list"),
            {"dataset": dataset, "statuses": statuses, "limit": limit, "offset": offset},
        ).fetchall()


# A worker is alive while it was heard from within this many of its own beats.
MISSED_BEATS = 3


def worker_beat(
    conn: psycopg.Connection[Any],
    worker_id: str,
    host: str,
    pid: int,
    beat_seconds: float,
    run_id: int | None,
) -> None:
    """Say that this worker is alive (and which run it carries out); the first
    beat registers it."""
    with conn.transaction():
        conn.execute(
            query("jobs_worker_beat"),
            {"worker_id": worker_id, "host": host, "pid": pid, "beat_seconds": beat_seconds,
             "run_id": run_id},
        )  # fmt: skip


def worker_stopped(conn: psycopg.Connection[Any], worker_id: str) -> None:
    with conn.transaction():
        conn.execute(query("jobs_worker_stopped"), {"worker_id": worker_id})


def service_health(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """The workers heard from recently, the latest heartbeat of any, and the queue:
    `workers_alive`, `last_heartbeat`, `queued`, `oldest_queued_seconds`."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            query("jobs_service_health"), {"missed_beats": MISSED_BEATS}
        ).fetchone()
    assert row is not None
    return row
