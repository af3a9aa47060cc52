"""Schemathesis against the OpenAPI schema: generated requests to every operation,
with a token of each scope, never get a 500. Kept small: a few examples per operation."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

import psycopg
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from mendb.db.repairs import insert_proposals
from mendb.repair.proposals import RepairProposal
from mendb.server import operations
from mendb.server.context import Mendb
from tests.acceptance.conftest import Headers
from tests.factories import make_table

EXAMPLES = 15  # per operation and mode (positive, negative)


def test_no_request_the_schema_allows_gets_a_500(
    client: TestClient, app: Mendb, conn: psycopg.Connection[Any], auth: dict[str, Headers]
) -> None:
    make_table(conn)
    register = {"name": "demo", "table": "train", "key": "id", "label": "label"}
    assert client.post("/datasets", json=register, headers=auth["admin"]).status_code == 201
    with app.connection() as own:
        operations.value_run(own, app.settings, "demo", "knn_shapley", {"k": 3})
    proposal = RepairProposal("1", "label", "0", "1", "label", "test", 0.9)
    insert_proposals(conn, "demo", None, [proposal, replace(proposal, row_key="2")])
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    failures: list[str] = []
    seen: list[int] = []
    operations_and_modes = [
        (result.ok(), mode)
        for result in schema.get_all_operations()
        for mode in schemathesis.GenerationMode
    ]
    for operation, mode in operations_and_modes:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(mode), scope=st.sampled_from(sorted(auth)))
        def check(case: Any, scope: str) -> None:
            response = case.call(headers=auth[scope])
            seen.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:300]}")

        with contextlib.suppress(Unsatisfiable):  # nothing to break in a parameterless call
            check()
    assert 200 in seen and 422 in seen  # it got past validation, and failed it
    assert not failures, failures
