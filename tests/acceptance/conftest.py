"""Fixtures for the service end to end: the app on a fresh database, tokens of each
scope, and real worker processes (`mendb worker`) attached to the same database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from mendb.db import tokens
from mendb.server.app import create_app
from mendb.server.settings import Settings

Headers = dict[str, str]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def auth(conn: psycopg.Connection[Any]) -> dict[str, Headers]:
    """Bearer headers of a token per scope, named after the scope."""
    headers = {}
    for scope in tokens.SCOPES:
        _, secret = tokens.create(conn, f"{scope}er-1", scope)
        headers[scope] = {"Authorization": f"Bearer {secret}"}
    return headers


@pytest.fixture
def start_worker(dsn: str, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `mendb worker` processes on the test database; all are ended afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(lease: float = 2.0) -> subprocess.Popen[bytes]:
        env = {**os.environ, "DATABASE_URL": dsn, "MENDB_HOME": str(tmp_path)}
        command = [sys.executable, "-c", "from mendb.server.cli import main; main()", "worker"]
        process = subprocess.Popen(
            [*command, "--lease", str(lease)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"worker-{len(started)}.log", "wb"),  # noqa: SIM115
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(
    conn: psycopg.Connection[Any], query: str, params: list[Any], timeout: float = 90
) -> Any:
    """Poll until the query's first column is true; returns the row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(query, params).fetchone()
        if row is not None and row[0]:
            return row
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {query} {params}")
