"""Supervised workers: /health says whether the queue is served; `mendb serve`
starts a worker that died again, and its workers end when it is killed outright;
a standalone `mendb worker` carries on after the database restarts."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest
from fastapi.testclient import TestClient

from mendb.db import datasets, embedded, jobs, tokens
from mendb.server.context import Mendb
from mendb.server.settings import Settings
from tests.acceptance.conftest import wait_for
from tests.acceptance.test_serve import free_port
from tests.factories import make_table

ALIVE = (
    "SELECT array_agg(pid ORDER BY pid) FROM mendb.workers WHERE stopped_at IS NULL"
    " AND heartbeat_at > clock_timestamp() - make_interval(secs => 3 * beat_seconds)"
)


def register(client: TestClient, conn: psycopg.Connection[Any]) -> None:
    make_table(conn)
    _, secret = tokens.create(conn, "admin-1", "admin")
    body = {"name": "d", "table": "train", "key": "id", "label": "label"}
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.post("/datasets", json=body, headers=headers).status_code == 201


def test_health_says_whether_the_queue_is_served(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    idle = client.get("/health")
    assert idle.status_code == 200
    assert idle.json() | {"last_heartbeat": None} == {
        "status": "ok",
        "database": True,
        "workers_alive": 0,
        "last_heartbeat": None,
        "queued": 0,
        "oldest_queued_seconds": None,
    }
    register(client, conn)
    jobs.request(conn, "value", "d", {"k": 3})
    waiting = client.get("/health")
    assert waiting.status_code == 503
    assert waiting.json()["status"] == "degraded" and waiting.json()["queued"] == 1
    assert waiting.json()["oldest_queued_seconds"] >= 0
    jobs.worker_beat(conn, "w-1", "host", 1, 5.0, None)
    served = client.get("/health").json()
    assert served["status"] == "ok" and served["workers_alive"] == 1
    assert served["last_heartbeat"] is not None
    # Silent for three of its beats: no longer counted.
    conn.execute("UPDATE mendb.workers SET heartbeat_at = now() - interval '16 seconds'")
    assert client.get("/health").json()["workers_alive"] == 0
    jobs.worker_beat(conn, "w-1", "host", 1, 5.0, None)
    jobs.worker_stopped(conn, "w-1")
    assert client.get("/health").status_code == 503


@pytest.fixture
def service(dsn: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`mendb serve --workers 1` in a process of its own; killed afterwards if alive."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": dsn, "MENDB_HOME": str(tmp_path)}
    command = [sys.executable, "-c", "from mendb.server.cli import main; main()", "serve"]
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "1", "--lease", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until(condition: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_serve_restarts_a_dead_worker_and_its_workers_end_when_it_is_killed(
    service: tuple[subprocess.Popen[bytes], str], conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    process, base = service
    first = wait_for(conn, ALIVE, [])[0]
    assert len(first) == 1
    os.kill(first[0], signal.SIGKILL)
    row = wait_for(
        conn, ALIVE + " AND pid <> %s HAVING count(*) > 0", [first[0]], timeout=120
    )  # fmt: skip
    second = row[0][0]
    assert psutil.Process(second).ppid() == process.pid
    health = httpx.get(f"{base}/health").json()
    assert health["status"] == "ok" and health["workers_alive"] >= 1
    process.kill()  # no chance to stop its workers itself
    process.wait()
    wait_until(lambda: gone(second), timeout=30)
    listening = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND query LIKE 'LISTEN%%'"
    ).fetchone()
    assert listening == (0,), (tmp_path / "serve.log").read_text()


@pytest.fixture
def own_server() -> Iterator[tuple[Path, str]]:
    """An embedded PostgreSQL of this test's own, to restart. Its data directory is
    not under pytest's tmp_path, which another pytest session may be pruning."""
    home = Path(tempfile.mkdtemp(prefix="mendb-restart-"))
    try:
        yield home, embedded.start(home)
    finally:
        embedded.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def restart(home: Path) -> None:
    """pg_ctl restart: every connection is closed, and the server comes back with
    the options it was started with, so at the same URL."""
    pgdata = embedded.data_dir(home)
    command = [str(embedded._bin_dir() / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast"]
    command += ["-l", str(pgdata / "restart.log"), "restart"]
    if pgdata.owner() != embedded._current_user():
        command = ["su", pgdata.owner(), "-s", "/bin/sh", "-c", shlex.join(command)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def test_a_worker_carries_on_after_the_database_restarts(
    own_server: tuple[Path, str], tmp_path: Path
) -> None:
    home, url = own_server
    env = {**os.environ, "DATABASE_URL": url, "MENDB_HOME": str(tmp_path)}
    command = [sys.executable, "-c", "from mendb.server.cli import main; main()", "worker"]
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([*command, "--lease", "2"], env=env, stderr=log)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            wait_for(conn, "SELECT to_regclass('mendb.workers') IS NOT NULL", [])
            pid = wait_for(conn, ALIVE, [])[0]
            assert pid == [worker.pid]
        restart(home)
        assert worker.poll() is None
        app = Mendb.open(Settings(database_url=url, home=tmp_path))
        with app.connection() as conn:
            make_table(conn)
            datasets.register(conn, "d", "train", "id", "label")
        app.close()
        with psycopg.connect(url, autocommit=True) as conn:
            run_id = jobs.request(conn, "value", "d", {"k": 3})
            status = wait_for(
                conn,
                "SELECT status IN ('done', 'failed'), status, error FROM mendb.runs WHERE id = %s",
                [run_id],
                timeout=120,
            )
            assert status[1:] == ("done", None), log_path.read_text()
        assert worker.poll() is None
        assert "reconnecting" in log_path.read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
