"""API tokens (hashed, scoped, revocable) and continuous mode (changed rows are
recorded, shown stale, and revalued when enough accumulate)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from mendb.db import changes, datasets, tokens
from mendb.db.errors import Conflict, MendbError, NotFound
from mendb.server import operations
from mendb.server.context import Mendb
from mendb.server.worker import Worker, WorkerOptions
from tests.factories import make_table


def test_tokens_are_stored_hashed_and_scoped(conn: psycopg.Connection[Any]) -> None:
    _token, secret = tokens.create(conn, "reviewer-1", "review")
    stored = conn.execute("SELECT token_hash FROM mendb.api_tokens").fetchone()
    assert stored == (tokens.digest(secret),) and secret not in stored
    found = tokens.authenticate(conn, secret)
    assert found is not None and found.name == "reviewer-1"
    assert found.allows("read") and found.allows("review") and not found.allows("admin")
    assert tokens.authenticate(conn, secret + "x") is None
    with pytest.raises(Conflict):
        tokens.create(conn, "reviewer-1", "read")
    with pytest.raises(MendbError, match="scope"):
        tokens.create(conn, "x", "root")
    with pytest.raises(MendbError, match="token name"):
        tokens.create(conn, "bad name!", "read")
    assert tokens.revoke(conn, "reviewer-1").revoked_at is not None
    assert tokens.authenticate(conn, secret) is None
    with pytest.raises(NotFound):
        tokens.revoke(conn, "reviewer-1")
    assert tokens.list_all(conn) == [] and len(tokens.list_all(conn, True)) == 1
    with pytest.raises(Conflict, match="never reused"):  # not even after revocation
        tokens.create(conn, "reviewer-1", "read")


@pytest.fixture
def valued(app: Mendb, conn: psycopg.Connection[Any]) -> int:
    make_table(conn, n=60)
    datasets.register(conn, "d", "train", "id", "label", [("a", None), ("b", None)])
    with app.connection() as own:
        return operations.value_run(own, app.settings, "d", "knn_shapley", {"k": 3}).run_id


def stale_keys(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute("SELECT row_key FROM mendb.row_values WHERE stale").fetchall()
    return {r[0] for r in rows}


def test_changed_rows_are_recorded_and_shown_stale(
    conn: psycopg.Connection[Any], valued: int
) -> None:
    columns = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'mendb.row_values'::regclass"
        " AND attnum > 0 ORDER BY attnum"
    ).fetchall()
    assert [c[0] for c in columns][-5:] == [
        "run_id",
        "computed_at",
        "stale",
        "converged",
        "convergence_warning",
    ]
    assert stale_keys(conn) == set()
    scored = {r[0] for r in conn.execute("SELECT row_key FROM mendb.row_values").fetchall()}
    a, b = sorted(scored, key=int)[:2]
    conn.execute("UPDATE train SET a = a + 1 WHERE id = %s", [int(a)])
    conn.execute("DELETE FROM train WHERE id = %s", [int(b)])
    conn.execute("INSERT INTO train VALUES (1000, 0, 0, 'red', 'new', 1)")
    assert stale_keys(conn) == {a, b}
    recorded = conn.execute(
        "SELECT row_key, operation FROM mendb.row_changes ORDER BY row_key::int"
    ).fetchall()
    assert recorded == sorted(
        [(a, "UPDATE"), (b, "DELETE"), ("1000", "INSERT")], key=lambda r: int(r[0])
    )
    changes.attach_all(conn)  # idempotent
    assert conn.execute("SELECT count(*) FROM mendb.row_changes").fetchone() == (3,)


def test_the_watcher_revalues_when_enough_rows_changed(
    app: Mendb, conn: psycopg.Connection[Any], valued: int
) -> None:
    worker = Worker(app, WorkerOptions(watch=True, watch_threshold=5), worker_id="w")
    conn.execute("UPDATE train SET a = a + 0.1 WHERE id < 3")
    assert worker.watch() == []  # 3 changes: not yet
    conn.execute("UPDATE train SET b = b + 0.1 WHERE id BETWEEN 3 AND 9")
    queued = worker.watch()
    assert len(queued) == 1 and worker.watch() == []  # one at a time
    run = conn.execute(
        "SELECT method, params, requested_by FROM mendb.runs WHERE id = %s", [queued[0]]
    ).fetchone()
    assert run == ("knn_shapley", {"k": 3, "utility": "accuracy"}, "mendb-watch")
    assert worker.run_once()
    assert stale_keys(conn) == set()
    assert worker.watch() == []
