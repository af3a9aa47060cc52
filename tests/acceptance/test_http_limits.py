"""HTTP limits: a body over the size limit is refused before it is parsed, a 422
does not echo the input back, and a read token sees a failed run's code and a
sentence, never the SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from mendb.db import runs
from mendb.server.app import BodyLimit, create_app
from mendb.server.settings import Settings
from tests.acceptance.conftest import Headers
from tests.factories import make_table

DEFAULT_MAX_BODY_BYTES = 1_000_000
REGISTER = {"name": "d", "table": "public.train", "key": "id", "label": "label"}


def _padded(size: int) -> bytes:
    """A valid registration of exactly `size` bytes (spaces are valid JSON)."""
    body = json.dumps(REGISTER).encode()
    return body + b" " * (size - len(body))


def test_a_body_over_the_limit_is_refused_before_it_is_parsed(
    client: TestClient, conn: psycopg.Connection[Any], auth: dict[str, Headers]
) -> None:
    make_table(conn)
    admin = {**auth["admin"], "Content-Type": "application/json"}
    over = client.post("/datasets", content=_padded(DEFAULT_MAX_BODY_BYTES + 1), headers=admin)
    assert over.status_code == 413 and over.json()["error"] == "BodyTooLarge"
    assert str(DEFAULT_MAX_BODY_BYTES) in over.json()["message"]
    assert conn.execute("SELECT count(*) FROM mendb.datasets").fetchone() == (0,)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bytes are counted
        body = _padded(DEFAULT_MAX_BODY_BYTES + 1)
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    streamed = client.post("/datasets", content=chunks(), headers=admin)
    assert streamed.status_code == 413 and streamed.json()["error"] == "BodyTooLarge"
    assert conn.execute("SELECT count(*) FROM mendb.datasets").fetchone() == (0,)
    at_limit = client.post("/datasets", content=_padded(DEFAULT_MAX_BODY_BYTES), headers=admin)
    assert at_limit.status_code == 201, at_limit.json()


def test_the_limit_is_a_setting(
    settings: Settings, auth: dict[str, Headers], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    monkeypatch.setenv("MENDB_MAX_BODY_BYTES", "100")
    small = Settings(database_url=settings.database_url, home=settings.home)
    assert small.max_body_bytes == 100
    app = create_app(small)
    assert any(m.cls is BodyLimit and m.kwargs == {"max_bytes": 100} for m in app.user_middleware)
    with TestClient(app) as client:
        headers = {**auth["admin"], "Content-Type": "application/json"}
        assert client.post("/datasets", content=_padded(101), headers=headers).status_code == 413
        small_body = client.post("/datasets", content=_padded(100), headers=headers)
        assert small_body.status_code != 413


@pytest.mark.parametrize("field", ["name", "table"])
def test_a_422_does_not_echo_the_input(
    client: TestClient, auth: dict[str, Headers], field: str
) -> None:
    long = "A" * 200_000
    answer = client.post("/datasets", json={**REGISTER, field: long}, headers=auth["admin"])
    assert answer.status_code == 422
    assert len(answer.content) < 2_000 and field in answer.text
    whole = client.post(
        "/runs", json={"dataset": "d", "params": {"k": [1] * 50_000}}, headers=auth["review"]
    )
    assert whole.status_code in (404, 422) and len(whole.content) < 2_000


def test_a_read_token_sees_a_code_and_a_sentence(
    client: TestClient, conn: psycopg.Connection[Any], auth: dict[str, Headers]
) -> None:
    make_table(conn)
    assert client.post("/datasets", json=REGISTER, headers=auth["admin"]).status_code == 201
    detail = (
        'UndefinedColumn: column "secret_salary" does not exist\n'
        "LINE 1: SELECT secret_salary FROM public.train WHERE id = 7"
    )
    failures = {
        "UndefinedColumn": detail,
        "SourceTableMissing": "SourceTableMissing: table public.train of dataset 'd' no longer"
        " exists\nmore lines",
        "RunFailed": "something with no code at all",
    }
    ids = {}
    for code, error in failures.items():
        ids[code] = runs.create(conn, "d", "value", "knn_shapley", {})
        runs.fail(conn, ids[code], error)
    for code, run_id in ids.items():
        read = client.get(f"/runs/{run_id}", headers=auth["read"]).json()["error"]
        assert read.startswith(f"{code}: ") and "\n" not in read
        assert "SELECT" not in read and "secret_salary" not in read
        full = client.get(f"/runs/{run_id}", headers=auth["review"]).json()["error"]
        assert full == failures[code]
    mine = client.get(f"/runs/{ids['SourceTableMissing']}", headers=auth["read"]).json()
    assert mine["error"] == (
        "SourceTableMissing: table public.train of dataset 'd' no longer exists"
    )
    listed = client.get("/runs", headers=auth["read"]).json()
    assert all("secret_salary" not in (r["error"] or "") for r in listed) and len(listed) == 3
    stored = conn.execute("SELECT error FROM mendb.runs WHERE id = %s", [ids["UndefinedColumn"]])
    assert stored.fetchone() == (detail,)
