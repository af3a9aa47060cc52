"""`mendb token` and `mendb serve` as a user runs them: the service in a process of
its own, with its worker processes, on the test database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from mendb.server.cli import cli
from tests.factories import make_table


@pytest.fixture
def env(dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"DATABASE_URL": dsn, "MENDB_HOME": str(tmp_path)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def mendb(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_tokens_from_the_command_line(env: dict[str, str]) -> None:
    created = mendb("token", "create", "--scope", "review", "--name", "reviewer-1")
    assert created["token"].startswith("mendb_") and created["scope"] == "review"
    plain = CliRunner().invoke(cli, ["token", "create", "--name", "reader-1"])
    assert plain.exit_code == 0 and plain.stdout.strip().startswith("mendb_")
    assert [t["name"] for t in mendb("token", "list")] == ["reviewer-1", "reader-1"]
    assert "token" not in mendb("token", "list")[0]
    assert mendb("token", "revoke", "reviewer-1")["revoked_at"] is not None
    assert [t["name"] for t in mendb("token", "list")] == ["reader-1"]
    again = CliRunner().invoke(cli, ["token", "revoke", "reviewer-1", "--json"])
    assert again.exit_code == 1 and json.loads(again.stderr)["error"] == "NotFound"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_the_api_and_its_workers(
    env: dict[str, str], conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    make_table(conn)
    token = mendb("token", "create", "--scope", "admin", "--name", "ops")["token"]
    port = free_port()
    command = [sys.executable, "-c", "from mendb.server.cli import main; main()", "serve"]
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "2"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        register = {"name": "d", "table": "train", "key": "id", "label": "label"}
        assert httpx.post(f"{base}/datasets", json=register, headers=headers).status_code == 201
        run_id = httpx.post(f"{base}/runs", json={"dataset": "d"}, headers=headers).json()["id"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            run = httpx.get(f"{base}/runs/{run_id}", headers=headers).json()
            if run["status"] == "done":
                break
            time.sleep(0.2)
        assert run["status"] == "done" and run["requested_by"] == "ops"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, (tmp_path / "serve.log").read_text()
    workers = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND query LIKE 'LISTEN%%'"
    ).fetchone()
    assert workers == (0,)  # the worker processes ended with the service
