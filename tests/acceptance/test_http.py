"""The HTTP API end to end: a real worker process carries out the runs the API
queues, on the embedded database."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from mendb.db.repairs import insert_proposals
from mendb.repair.proposals import RepairProposal
from tests.acceptance.conftest import Headers, wait_for
from tests.factories import make_table

REGISTER = {"name": "demo", "table": "public.train", "key": "id", "label": "label"}
REGISTER["features"] = [{"name": "a"}, {"name": "b"}, {"name": "colour"}]  # no free text


def finished(client: TestClient, run_id: int, headers: Headers, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/runs/{run_id}", headers=headers).json()
        assert 0 <= run["progress"] <= 1
        if run["status"] in ("done", "failed", "cancelled"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish: {run}")


def test_a_round_over_http_with_a_real_worker(
    client: TestClient,
    conn: psycopg.Connection[Any],
    auth: dict[str, Headers],
    start_worker: Callable[..., Any],
) -> None:
    start_worker()
    make_table(conn, n=150, seed=4)
    conn.execute("UPDATE train SET label = 1 - label WHERE id IN (0, 1, 2, 3, 4, 5, 6, 7)")
    admin, reviewer, reader = auth["admin"], auth["review"], auth["read"]
    assert client.post("/datasets", json=REGISTER, headers=admin).status_code == 201
    assert [d["name"] for d in client.get("/datasets", headers=reader).json()] == ["demo"]
    created = client.post(
        "/runs", json={"dataset": "demo", "method": "knn_shapley", "params": {"k": 5}},
        headers=reviewer,
    )  # fmt: skip
    assert created.status_code == 202 and created.headers["Location"].endswith(
        str(created.json()["id"])
    )
    run = finished(client, created.json()["id"], reader)
    assert run["status"] == "done" and run["progress"] == 1 and run["requested_by"] == "reviewer-1"
    assert run["metrics"]["train_rows"] > 0 and run["params"]["k"] == 5
    page = client.get(
        "/datasets/demo/scores", params={"limit": 5, "max_value": 0}, headers=reader
    ).json()
    values = [s["value"] for s in page["items"]]
    assert len(values) == 5 and values == sorted(values) and max(values) <= 0
    assert page["next_offset"] == 5 and not any(s["stale"] for s in page["items"])
    propose = client.post("/runs", json={"dataset": "demo", "kind": "propose"}, headers=reviewer)
    assert finished(client, propose.json()["id"], reader)["status"] == "done"
    listed = client.get("/datasets/demo/repairs?status=proposed", headers=reader).json()["items"]
    first, *rest = [r["id"] for r in listed]
    assert client.post(f"/repairs/{first}/reject", headers=reviewer).json() == {"changed": [first]}
    accepted = client.post("/repairs/accept", json={"ids": rest}, headers=reviewer).json()
    assert accepted["changed"] == sorted(rest)
    assert client.post("/datasets/demo/apply", headers=reviewer).json()["done"] == sorted(rest)
    who = conn.execute(
        "SELECT DISTINCT status_by FROM mendb.repairs WHERE id = ANY(%s)", [rest]
    ).fetchall()
    assert who == [("reviewer-1",)]
    stale = client.get("/datasets/demo/scores?stale=true&limit=1000", headers=reader).json()
    assert {s["row_key"] for s in stale["items"]} == {r["row_key"] for r in listed[1:]}
    reverted = client.post("/datasets/demo/revert", json={"all": True}, headers=reviewer).json()
    assert reverted["done"] == sorted(rest, reverse=True)


def test_a_job_requested_from_sql_completes(
    conn: psycopg.Connection[Any], app: Any, start_worker: Callable[..., Any]
) -> None:
    make_table(conn)
    conn.execute(
        "INSERT INTO mendb.datasets (name, table_schema, table_name, key_column, label_column,"
        " features, split) VALUES ('demo', 'public', 'train', 'id', 'label',"
        ' \'[{"name": "a", "kind": "numeric", "type_name": "double precision", "dim": null}]\','
        ' \'{"validation_fraction": 0.2, "test_fraction": 0.2, "seed": 0,'
        ' "validation_table": null}\')'
    )
    start_worker()
    row = conn.execute(
        "select mendb.request('value', 'demo', '{\"method\": \"knn_shapley\"}')"
    ).fetchone()
    assert row is not None
    wait_for(conn, "SELECT status = 'done' FROM mendb.jobs_status WHERE id = %s", [row[0]])
    scores = conn.execute(
        "SELECT count(*) FROM mendb.row_values WHERE run_id = %s", [row[0]]
    ).fetchone()
    assert scores is not None and scores[0] > 0


def test_a_killed_worker_loses_nothing(
    conn: psycopg.Connection[Any],
    dsn: str,
    client: TestClient,
    auth: dict[str, Headers],
    start_worker: Callable[..., Any],
) -> None:
    make_table(conn, n=80)
    client.post("/datasets", json=REGISTER, headers=auth["admin"])
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE train IN ACCESS EXCLUSIVE MODE")  # the job stalls mid-read
        run_id = client.post("/runs", json={"dataset": "demo"}, headers=auth["review"]).json()["id"]
        first = start_worker(lease=2.0)
        wait_for(
            conn,
            "SELECT status = 'running' AND worker_id LIKE %s FROM mendb.runs WHERE id = %s",
            [f"%:{first.pid}:%", run_id],
        )
        time.sleep(2.5)  # longer than the lease: the heartbeat keeps it
        assert conn.execute("SELECT status FROM mendb.runs WHERE id = %s", [run_id]).fetchone() == (
            "running",
        )
        first.kill()
        first.wait()
        blocker.rollback()
    start_worker(lease=2.0)
    run = finished(client, run_id, auth["read"])
    assert run["status"] == "done" and run["attempts"] == 2
    counts = conn.execute(
        "SELECT count(*), count(DISTINCT row_key) FROM mendb.scores WHERE run_id = %s", [run_id]
    ).fetchone()
    assert counts is not None and counts[0] == counts[1] == run["metrics"]["train_rows"]


def test_a_running_job_is_cancelled(
    conn: psycopg.Connection[Any],
    dsn: str,
    client: TestClient,
    auth: dict[str, Headers],
    start_worker: Callable[..., Any],
) -> None:
    make_table(conn)
    client.post("/datasets", json=REGISTER, headers=auth["admin"])
    start_worker(lease=1.0)
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE train IN ACCESS EXCLUSIVE MODE")
        run_id = client.post("/runs", json={"dataset": "demo"}, headers=auth["review"]).json()["id"]
        wait_for(conn, "SELECT status = 'running' FROM mendb.runs WHERE id = %s", [run_id])
        cancelled = client.post(f"/runs/{run_id}/cancel", headers=auth["review"])
        assert cancelled.status_code == 202 and cancelled.json()["cancel_requested"]
        time.sleep(0.7)  # the heartbeat sees the request
        blocker.rollback()
    run = finished(client, run_id, auth["read"])
    assert run["status"] == "cancelled"
    assert conn.execute("SELECT count(*) FROM mendb.scores").fetchone() == (0,)


def test_tokens_and_scopes(
    client: TestClient, conn: psycopg.Connection[Any], auth: dict[str, Headers]
) -> None:
    make_table(conn)
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/datasets").status_code == 401
    bad = {"Authorization": "Bearer mendb_not-a-token"}
    assert client.get("/datasets", headers=bad).status_code == 401
    assert client.get("/datasets", headers=auth["read"]).status_code == 200
    assert client.post("/datasets", json=REGISTER, headers=auth["review"]).status_code == 403
    assert client.post("/runs", json={"dataset": "x"}, headers=auth["read"]).status_code == 403
    assert (
        client.post("/repairs/accept", json={"ids": [1]}, headers=auth["read"]).status_code == 403
    )
    assert client.post("/datasets", json=REGISTER, headers=auth["admin"]).status_code == 201
    conn.execute("UPDATE mendb.api_tokens SET revoked_at = now() WHERE name = 'reader-1'")
    assert client.get("/datasets", headers=auth["read"]).status_code == 401


def test_errors_are_json_that_names_the_problem(
    client: TestClient, conn: psycopg.Connection[Any], auth: dict[str, Headers]
) -> None:
    make_table(conn)
    admin = auth["admin"]
    missing = client.post("/datasets", json={**REGISTER, "label": "nope"}, headers=admin)
    assert missing.status_code == 404
    assert missing.json()["column"] == "nope" and missing.json()["table"] == "public.train"
    assert client.get("/datasets/ghost", headers=admin).json()["error"] == "UnknownDataset"
    client.post("/datasets", json=REGISTER, headers=admin)
    bad = client.post("/runs", json={"dataset": "demo", "params": {"q": 1}}, headers=admin)
    assert bad.status_code == 422 and bad.json()["column"] == "q"
    assert client.get("/runs/999", headers=admin).json()["row"] == "999"
    ids = insert_proposals(
        conn, "demo", None, [RepairProposal("1", "label", "0", "1", "label", "t", 0.9)]
    )
    partial = client.post("/repairs/accept", json={"ids": [ids[0], 999]}, headers=admin)
    assert partial.status_code == 400 and partial.json()["row"] == "999"
    assert conn.execute("SELECT status FROM mendb.repairs").fetchall() == [("proposed",)]


def test_concurrent_accept_and_apply_apply_each_repair_once(
    client: TestClient, conn: psycopg.Connection[Any], auth: dict[str, Headers]
) -> None:
    make_table(conn)
    client.post("/datasets", json=REGISTER, headers=auth["admin"])
    labels = dict(conn.execute("SELECT id::text, label::text FROM train WHERE id < 20").fetchall())
    flips = [
        RepairProposal(key, "label", old, "1" if old == "0" else "0", "label", "t", 0.9)
        for key, old in labels.items()
    ]
    ids = insert_proposals(conn, "demo", None, flips)
    reviewer = auth["review"]

    def call(i: int) -> Any:
        if i % 2:
            return client.post("/datasets/demo/apply", headers=reviewer)
        body = {"ids": ids[i % 10 :: 3]}
        return client.post("/repairs/accept", json=body, headers=reviewer)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(call, range(40)))
    for response in responses:  # accepting a repair applied meanwhile is refused, whole
        assert response.status_code == 200 or "is applied" in response.json()["message"]
    rest = {"dataset": "demo", "min_confidence": 0}  # the proposals nobody accepted yet
    client.post("/repairs/accept", json=rest, headers=reviewer)
    client.post("/datasets/demo/apply", headers=reviewer)
    applied = conn.execute(
        "SELECT repair_id, count(*) FROM mendb.repair_events WHERE new_status = 'applied'"
        " GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert applied == [(i, 1) for i in ids]
    now = dict(conn.execute("SELECT id::text, label::text FROM train WHERE id < 20").fetchall())
    assert all(now[k] != labels[k] for k in labels)


def test_the_loop_over_http_and_sql_with_a_real_worker(
    client: TestClient,
    conn: psycopg.Connection[Any],
    auth: dict[str, Headers],
    start_worker: Callable[..., Any],
) -> None:
    start_worker()
    make_table(conn, n=200, seed=6)
    conn.execute(
        "UPDATE train SET label = 1 - label WHERE id IN (SELECT id FROM train"
        " WHERE mendb.split_unit(0, id::text) >= 0.4 ORDER BY id LIMIT 15)"
    )
    admin, reviewer, reader = auth["admin"], auth["review"], auth["read"]
    assert client.post("/datasets", json=REGISTER, headers=admin).status_code == 201
    bad = client.post(
        "/runs",
        json={"dataset": "demo", "kind": "loop", "params": {"budgett": 5}},
        headers=reviewer,
    )
    assert bad.status_code == 422 and "budgett" in bad.json()["message"]
    assert client.get("/datasets/demo/loop", headers=reader).status_code == 404
    settings = {"budget": 20, "max_rounds": 2, "policy": "review", "k": 5}
    started = client.post("/runs", json={"dataset": "demo", "kind": "loop", "method": "knn_shapley",
                                         "params": settings}, headers=reviewer)  # fmt: skip
    assert started.status_code == 202
    loop_id = started.json()["id"]
    wait_for(conn, "SELECT status = 'paused' FROM mendb.runs WHERE id = %s", [loop_id])
    loop = client.get("/datasets/demo/loop", headers=reader).json()
    assert loop["id"] == loop_id and loop["rounds"][0]["status"] == "awaiting_review"
    assert loop["settings"]["method"] == "knn_shapley" and loop["settings"]["budget"] == 20
    ids = loop["rounds"][0]["proposal_ids"]
    client.post("/repairs/accept", json={"ids": ids}, headers=reviewer)
    # The reviewer resumes it from psql.
    resume = conn.execute("select mendb.request('loop', 'demo')").fetchone()
    assert resume is not None
    wait_for(conn, "SELECT status = 'done' FROM mendb.runs WHERE id = %s", [resume[0]])
    loop = client.get("/datasets/demo/loop", headers=reader).json()
    assert loop["id"] == loop_id and loop["rounds"][0]["status"] == "done"
    assert loop["rounds"][0]["applied"] > 0 and loop["rounds"][0]["test_after"] is not None


def test_registering_names_the_row_number_it_left_out(
    client: TestClient, conn: psycopg.Connection[Any], auth: dict[str, Headers]
) -> None:
    make_table(conn, n=40)
    conn.execute("ALTER TABLE train ADD COLUMN rownames bigint")
    conn.execute("UPDATE train SET rownames = id + 1")
    body = {key: value for key, value in REGISTER.items() if key != "features"}
    registered = client.post("/datasets", json=body, headers=auth["admin"]).json()
    assert registered["left_out"] == ["rownames"]
    assert "rownames" not in {f["name"] for f in registered["features"]}
    named = {**REGISTER, "name": "named", "features": [{"name": "rownames"}]}
    kept = client.post("/datasets", json=named, headers=auth["admin"]).json()
    assert kept["left_out"] == [] and [f["name"] for f in kept["features"]] == ["rownames"]
