"""The job queue on `mendb.runs`: requests from SQL, claims, leases, cancellation."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from mendb.db import datasets, jobs
from mendb.db.errors import MendbError, UnknownDataset
from mendb.server.context import Mendb
from mendb.server.worker import Worker, WorkerOptions
from tests.factories import make_table


@pytest.fixture
def dataset(app: Mendb, conn: psycopg.Connection[Any]) -> str:
    make_table(conn)
    datasets.register(conn, "d", "train", "id", "label")
    return "d"


def test_a_request_from_sql_is_queued_and_notified(dsn: str, dataset: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as listener, psycopg.connect(dsn) as psql:
        jobs.listen(listener)
        row = psql.execute(
            "select mendb.request('value', 'd', '{\"method\": \"knn_shapley\", \"k\": 3}')"
        ).fetchone()
        psql.commit()
        assert row is not None
        notified = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
        assert notified == [str(row[0])]
        status = psql.execute(
            "SELECT kind, method, status, progress, eta FROM mendb.jobs_status WHERE id = %s",
            [row[0]],
        ).fetchone()
        assert status == ("value", "knn_shapley", "queued", 0.0, None)
        params = psql.execute("SELECT params FROM mendb.runs WHERE id = %s", [row[0]]).fetchone()
        assert params == ({"k": 3},)


def test_bad_requests_name_what_is_wrong(conn: psycopg.Connection[Any], dataset: str) -> None:
    with pytest.raises(UnknownDataset) as missing:
        jobs.request(conn, "value", "ghost", {})
    assert missing.value.row == "ghost"
    with pytest.raises(MendbError, match="kind 'bake'"):
        jobs.request(conn, "bake", "d", {})
    assert conn.execute("SELECT count(*) FROM mendb.runs").fetchone() == (0,)


def test_two_workers_never_claim_the_same_job(dsn: str, dataset: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as a, psycopg.connect(dsn, autocommit=True) as b:
        ids = [jobs.request(a, "value", "d", {}) for _ in range(2)]
        with a.transaction():
            first = jobs.claim(a, "wa", 30)
            second = jobs.claim(b, "wb", 30)  # skips the row a holds locked
            assert second is not None and jobs.claim(b, "wb", 30) is None
        assert first is not None
        assert sorted([first["id"], second["id"]]) == ids
        assert first["status"] == "running" and first["attempts"] == 1


def test_an_expired_lease_is_queued_again_then_failed(
    conn: psycopg.Connection[Any], dataset: str
) -> None:
    run_id = jobs.request(conn, "value", "d", {})
    for attempt in (1, 2):
        job = jobs.claim(conn, f"w{attempt}", 0.05)
        assert job is not None and job["id"] == run_id and job["attempts"] == attempt
        time.sleep(0.1)
        assert jobs.renew(conn, run_id, "someone-else", 30) == "lost"
        queued = jobs.requeue_expired(conn, max_attempts=2)
        assert queued == ([run_id] if attempt == 1 else [])
    row = conn.execute("SELECT status, error FROM mendb.runs WHERE id = %s", [run_id]).fetchone()
    assert row is not None and row[0] == "failed" and "lease expired" in row[1]


def test_cancel_a_queued_job_and_ask_a_running_one(
    conn: psycopg.Connection[Any], dataset: str
) -> None:
    queued = jobs.request(conn, "value", "d", {})
    assert jobs.cancel(conn, queued)["status"] == "cancelled"
    running = jobs.request(conn, "value", "d", {})
    assert jobs.claim(conn, "w", 30) is not None
    assert jobs.renew(conn, running, "w", 30) == "held"
    assert jobs.cancel(conn, running)["status"] == "running"
    assert jobs.renew(conn, running, "w", 30) == "cancel"
    with pytest.raises(jobs.Cancelled):
        jobs.finish(conn, running, "w", {})
    assert jobs.end(conn, running, "w", "cancelled")
    assert jobs.cancel(conn, queued)["status"] == "cancelled"  # again: no change
    done = jobs.request(conn, "apply", "d", {})
    assert jobs.claim(conn, "w", 30) is not None
    jobs.finish(conn, done, "w", {})
    with pytest.raises(MendbError, match="already done"):
        jobs.cancel(conn, done)
    with pytest.raises(MendbError, match="no run"):
        jobs.cancel(conn, 10**12)


def test_a_worker_that_lost_its_lease_cannot_finish(
    conn: psycopg.Connection[Any], dataset: str
) -> None:
    run_id = jobs.request(conn, "apply", "d", {})
    assert jobs.claim(conn, "old", 0.01) is not None
    time.sleep(0.05)
    jobs.requeue_expired(conn, 3)
    assert jobs.claim(conn, "new", 30) is not None
    with pytest.raises(jobs.LeaseLost):
        jobs.finish(conn, run_id, "old", {})
    assert not jobs.end(conn, run_id, "old", "failed", "late")
    jobs.finish(conn, run_id, "new", {"done": []})
    assert conn.execute("SELECT status FROM mendb.runs WHERE id = %s", [run_id]).fetchone() == (
        "done",
    )


def test_the_worker_runs_value_and_propose_jobs(
    app: Mendb, conn: psycopg.Connection[Any], dataset: str
) -> None:
    worker = Worker(app, WorkerOptions(lease_seconds=5), worker_id="w1")
    value = jobs.request(conn, "value", "d", {"method": "knn_shapley", "k": 3}, actor="ann")
    bad = jobs.request(conn, "value", "d", {"k": -1})
    assert worker.run_once() and worker.run_once() and not worker.run_once()
    done = conn.execute(
        "SELECT status, progress, worker_id, requested_by FROM mendb.runs WHERE id = %s", [value]
    ).fetchone()
    assert done == ("done", 1.0, "w1", "ann")
    failed = conn.execute("SELECT status, error FROM mendb.runs WHERE id = %s", [bad]).fetchone()
    assert failed is not None and failed[0] == "failed" and "k=-1" in failed[1]
    propose = jobs.request(conn, "propose", "d", {"max_rows": 5}, actor="ann")
    assert worker.run_once()
    row = conn.execute("SELECT status, metrics FROM mendb.runs WHERE id = %s", [propose]).fetchone()
    assert row is not None and row[0] == "done", row
    assert isinstance(row[1]["proposed"], list)
