"""Who the audit trail names: a token's name over HTTP (and for the jobs it queues),
cli:OS_USER@ROLE on the command line, whatever the environment claims; the same
identity on a run and on the repair events of the same actor; and a token name
given only once, even after its token was revoked."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from mendb.db import tokens
from mendb.db.errors import Conflict, MendbError
from mendb.db.repairs import insert_proposals
from mendb.repair.proposals import RepairProposal
from mendb.server.app import create_app
from mendb.server.cli import cli
from mendb.server.context import Mendb, os_user
from mendb.server.settings import Settings
from mendb.server.worker import Worker, WorkerOptions
from tests.factories import make_table

SPOOF = "somebody-else"


@pytest.fixture
def spoofing_env(dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line's environment, with every variable that once named (or
    could name) the actor set to someone else."""
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("MENDB_HOME", str(tmp_path))
    for name in ("MENDB_ACTOR", "ACTOR", "USER", "LOGNAME", "USERNAME"):
        monkeypatch.setenv(name, SPOOF)


def mendb(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def a_proposal(conn: psycopg.Connection[Any], row_key: str) -> int:
    old = conn.execute("SELECT label::text FROM train WHERE id = %s", [int(row_key)]).fetchone()
    assert old is not None
    new = "1" if old[0] == "0" else "0"
    proposal = RepairProposal(row_key, "label", old[0], new, "label", "test", 0.9)
    return insert_proposals(conn, "d", None, [proposal], actor="proposer")[0]


def events_of(conn: psycopg.Connection[Any], repair_id: int) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT new_status, changed_by FROM mendb.repair_events WHERE repair_id = %s ORDER BY id",
        [repair_id],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_the_environment_does_not_name_the_actor(spoofing_env: None) -> None:
    assert Settings().actor is None
    assert os_user() == pwd.getpwuid(os.geteuid()).pw_name != SPOOF


def test_the_command_line_records_its_os_user_and_role_on_runs_and_events(
    spoofing_env: None, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn)
    role = conn.execute("SELECT session_user").fetchone()
    assert role is not None
    expected = f"cli:{pwd.getpwuid(os.geteuid()).pw_name}@{role[0]}"
    mendb("register", "d", "--table", "public.train", "--key", "id", "--label", "label")
    run = mendb("value", "d", "--method", "knn_shapley", "--k", "3")
    repair_id = a_proposal(conn, "1")
    assert mendb("accept", str(repair_id))["accepted"] == [repair_id]
    requested = conn.execute(
        "SELECT requested_by FROM mendb.runs WHERE id = %s", [run["run_id"]]
    ).fetchone()
    assert requested == (expected,)
    assert events_of(conn, repair_id) == [("proposed", "proposer"), ("accepted", expected)]


def test_a_token_name_is_the_actor_of_its_requests_and_of_the_jobs_they_queue(
    dsn: str, tmp_path: Path, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn)
    settings = Settings(database_url=dsn, home=tmp_path)
    _, admin = tokens.create(conn, "root-1", "admin")
    _, secret = tokens.create(conn, "ann", "review")
    as_ann = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(settings)) as client:
        register = {"name": "d", "table": "train", "key": "id", "label": "label"}
        headers = {"Authorization": f"Bearer {admin}"}
        assert client.post("/datasets", json=register, headers=headers).status_code == 201
        value = client.post("/runs", json={"dataset": "d", "params": {"k": 3}}, headers=as_ann)
        assert value.status_code == 202, value.text
        repair_id = a_proposal(conn, "2")
        accepted = client.post(f"/repairs/{repair_id}/accept", headers=as_ann)
        assert accepted.status_code == 200, accepted.text
    app = Mendb.open(settings)
    try:
        assert app.actor.startswith("cli:")  # the worker's own, not the requester's
        assert Worker(app, WorkerOptions()).run_once()
    finally:
        app.close()
    run = conn.execute(
        "SELECT status, requested_by FROM mendb.runs WHERE id = %s", [value.json()["id"]]
    ).fetchone()
    assert run == ("done", "ann")
    assert events_of(conn, repair_id) == [("proposed", "proposer"), ("accepted", "ann")]


def test_a_token_name_is_never_given_twice(conn: psycopg.Connection[Any]) -> None:
    tokens.create(conn, "ops", "admin")
    with pytest.raises(Conflict, match="never reused"):
        tokens.create(conn, "ops", "read")  # while the first is active
    tokens.revoke(conn, "ops")
    with pytest.raises(Conflict, match="never reused"):
        tokens.create(conn, "ops", "read")  # nor after it was revoked
    other, _ = tokens.create(conn, "ops-2", "read")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("UPDATE mendb.api_tokens SET name = 'ops' WHERE id = %s", [other.id])
    names = conn.execute("SELECT name FROM mendb.api_tokens ORDER BY id").fetchall()
    assert names == [("ops",), ("ops-2",)]


def test_a_token_cannot_take_the_command_lines_form(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(MendbError, match="letters, digits"):
        tokens.create(conn, "cli:alice@postgres", "admin")
