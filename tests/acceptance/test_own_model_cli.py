"""The task and the user's own model at the surface: `mendb register --task` and
`mendb datasets` show it, over HTTP too; `--model`, `--model-params` and
`--predictions` are checked before anything runs, a bad one refused by name (exit 1,
422) with nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from psycopg import sql

from mendb.server.cli import cli
from tests.acceptance.conftest import Headers
from tests.factories import make_table

REGISTER = ["--table", "train", "--key", "id", "--label", "label"]


@pytest.fixture
def invoke(dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("MENDB_HOME", str(tmp_path))
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return run


def _written(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    """The rows a refused command must not have added."""
    counts = []
    for table in ("datasets", "runs", "scores", "repairs"):
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("mendb", table))
        counts.append(conn.execute(query).fetchone())
    return tuple(counts)


def _score_table(conn: psycopg.Connection[Any], n: int = 120) -> None:
    """A table whose label is an integer score with many values, and its stored
    out-of-fold predictions."""
    conn.execute(
        "CREATE TABLE scores AS SELECT i AS id, (i % 17) * 0.5 AS a, (i % 7)::float8 AS b,"
        " (i * 37) % 211 AS y, ((i * 37) % 211 + 2)::float8 AS guess, 'n' || i AS note"
        f" FROM generate_series(1, {n}) AS i"
    )
    conn.execute("ALTER TABLE scores ADD PRIMARY KEY (id)")


def test_register_shows_the_task_told_or_given(
    invoke: Any, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn)
    _score_table(conn)
    conn.execute("CREATE TABLE few AS SELECT id, a, (id % 6) + 0.5 AS y FROM train")
    conn.execute("ALTER TABLE few ADD PRIMARY KEY (id)")
    said = invoke("register", "c", *REGISTER)
    assert said.exit_code == 0 and "(classification)" in said.output
    args = ["--table", "scores", "--key", "id", "--label", "y", "--features", "a,b"]
    assert invoke("register", "r", *args).exit_code == 0
    before = _written(conn)
    refused = invoke("register", "f", "--table", "few", "--key", "id", "--label", "y", "--json")
    assert refused.exit_code == 1
    error = json.loads(refused.stderr)
    assert error["error"] == "AmbiguousTask" and error["column"] == "y"
    assert "6 distinct values" in error["message"] and "--task" in error["message"]
    assert _written(conn) == before
    text = invoke(
        "register", "t", *REGISTER[:4], "--label", "colour", "--task", "regression", "--json"
    )
    assert text.exit_code == 1
    assert json.loads(text.stderr)["error"] == "NonNumericTarget"
    told = ["--table", "few", "--key", "id", "--label", "y", "--task", "regression"]
    assert invoke("register", "f", *told).exit_code == 0
    listed = json.loads(invoke("datasets", "--json").output)
    assert {d["name"]: d["task"] for d in listed} == {
        "c": "classification",
        "f": "regression",
        "r": "regression",
    }
    table = invoke("datasets").output
    assert "task" in table and "regression" in table and "classification" in table
    rows = conn.execute("SELECT name, task FROM mendb.datasets ORDER BY name").fetchall()
    assert rows == [("c", "classification"), ("f", "regression"), ("r", "regression")]


def test_a_bad_model_or_predictions_column_exits_1_and_writes_nothing(
    invoke: Any, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn, n=80)
    conn.execute("ALTER TABLE train ADD COLUMN p float8 DEFAULT 0.5")
    assert invoke("register", "d", *REGISTER, "--features", "a,b").exit_code == 0
    cases = [
        (["value", "d", "--method", "data_oob", "--model", "sklearn.no_such_mod:Thing"],
         "InvalidModel", "model", "cannot be imported"),
        (["value", "d", "--model", "sklearn.linear_model.Ridge"],
         "InvalidModel", "model", "package.module:Class"),
        (["value", "d", "--method", "tmc_shapley", "--model", "sklearn.utils:Bunch"],
         "InvalidModel", "model", "lacks fit and predict"),
        (["value", "d", "--method", "data_oob", "--model", "sklearn.linear_model:Ridge",
          "--model-params", "{alpha: 1}"], "InvalidModel", "model_params", "not JSON"),
        (["value", "d", "--method", "data_oob", "--model", "sklearn.linear_model:Ridge",
          "--model-params", "[1]"], "InvalidModel", "model_params", "JSON object"),
        (["value", "d", "--method", "data_oob", "--model", "sklearn.linear_model:Ridge",
          "--model-params", '{"no_such_parameter": 1}'],
         "InvalidModel", "model_params", "does not take the parameters"),
        (["value", "d", "--method", "knn_shapley", "--model", "sklearn.linear_model:Ridge"],
         "InvalidParameterError", "model", "fits no model"),
        (["value", "d", "--method", "consensus", "--model", "sklearn.linear_model:Ridge"],
         "InvalidParameterError", "model", "consensus"),
        (["value", "d", "--method", "data_oob", "--model-params", '{"alpha": 1}'],
         "InvalidParameterError", "model_params", "given with a model"),
        (["propose", "d", "--model", "sklearn.utils:Bunch"],
         "InvalidModel", "model", "lacks fit and predict"),
        (["propose", "d", "--model", "logistic"], "InvalidModel", "model", "package.module"),
        (["propose", "d", "--model-params", "{}"],
         "InvalidParameterError", "model_params", "given with a model"),
        (["propose", "d", "--predictions", "nope"], "UnknownColumn", "nope", "nope"),
        (["propose", "d", "--predictions", "note"], "UnsupportedPredictions", "note", "text"),
        (["propose", "d", "--predictions", "label"], "InvalidDataset", "label", "key or label"),
    ]  # fmt: skip
    before = _written(conn)
    for args, error, column, said in cases:
        result = invoke(*args, "--json")
        assert result.exit_code == 1, (args, result.output)
        body = json.loads(result.stderr)
        assert (body["error"], body["column"]) == (error, column), (args, body)
        assert said in body["message"], (args, body)
        assert _written(conn) == before, args


def test_post_runs_checks_the_model_and_predictions_before_queueing(
    client: TestClient, conn: psycopg.Connection[Any], auth: dict[str, Headers]
) -> None:
    _score_table(conn)
    body = {"name": "r", "table": "scores", "key": "id", "label": "y", "features": [{"name": "a"}]}
    created = client.post("/datasets", json=body, headers=auth["admin"])
    assert created.status_code == 201 and created.json()["task"] == "regression"
    told = {**body, "name": "c", "task": "classification"}
    assert client.post("/datasets", json=told, headers=auth["admin"]).json()["task"] == (
        "classification"
    )
    assert client.get("/datasets/r", headers=auth["read"]).json()["task"] == "regression"
    listed = client.get("/datasets", headers=auth["read"]).json()
    assert {d["name"]: d["task"] for d in listed} == {"r": "regression", "c": "classification"}
    conn.execute("CREATE TABLE few AS SELECT id, a, (id % 6) + 0.5 AS y FROM scores")
    conn.execute("ALTER TABLE few ADD PRIMARY KEY (id)")
    ambiguous = client.post(
        "/datasets", json={**body, "name": "f", "table": "few"}, headers=auth["admin"]
    )
    assert ambiguous.status_code == 422 and ambiguous.json()["error"] == "AmbiguousTask"
    refused = [
        ("value", "data_oob", {"model": "sklearn.no_such_mod:Thing"}, "InvalidModel", "model"),
        ("value", "knn_shapley", {"model": "sklearn.linear_model:Ridge"},
         "InvalidParameterError", "model"),
        ("value", "data_oob", {"model_params": {"alpha": 1}}, "InvalidParameterError",
         "model_params"),
        ("propose", None, {"model": "os:system"}, "InvalidModel", "model"),
        ("propose", None, {"model": "sklearn.linear_model:Ridge", "model_params": "{}"},
         "InvalidParameterError", "model_params"),
        ("propose", None, {"model": "sklearn.linear_model:Ridge", "model_params": {"a": 1}},
         "InvalidModel", "model_params"),
        ("propose", None, {"predictions": "note"}, "UnsupportedPredictions", "note"),
        ("propose", None, {"predictions": "nope"}, "UnknownColumn", "nope"),
    ]  # fmt: skip
    for kind, method, params, error, column in refused:
        answer = client.post(
            "/runs",
            json={"dataset": "r", "kind": kind, "method": method, "params": params},
            headers=auth["review"],
        )
        status = 404 if error == "UnknownColumn" else 422
        assert answer.status_code == status, (kind, params, answer.json())
        assert (answer.json()["error"], answer.json()["column"]) == (error, column), params
    assert conn.execute("SELECT count(*) FROM mendb.runs").fetchone() == (0,)
    accepted = [
        ("value", "data_oob", {"model": "sklearn.linear_model:Ridge"}),
        ("propose", None, {"model": "sklearn.linear_model:Ridge", "model_params": {"alpha": 2.0},
                           "predictions": "guess"}),
    ]  # fmt: skip
    for kind, method, params in accepted:
        answer = client.post(
            "/runs",
            json={"dataset": "r", "kind": kind, "method": method, "params": params},
            headers=auth["review"],
        )
        assert answer.status_code == 202, (kind, params, answer.json())
        assert answer.json()["params"].items() >= params.items()
    assert conn.execute("SELECT count(*) FROM mendb.runs").fetchone() == (len(accepted),)
