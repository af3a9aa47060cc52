"""Bad input, from the command line, HTTP and SQL: each case is refused with a named
error before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.types.json import Jsonb

from mendb.server.cli import cli
from mendb.server.params import machine_cores, run_param_types
from mendb.valuation.methods import METHODS
from tests.acceptance.conftest import Headers
from tests.factories import make_table, table_md5

REGISTER = ["--key", "id", "--label", "label"]


def _snapshot(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Every row of every mendb table, and of the source tables that still exist."""
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'mendb' AND table_type = 'BASE TABLE' ORDER BY 1"
    ).fetchall()
    seen: dict[str, Any] = {}
    for (table,) in tables:
        query = sql.SQL("SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text))"
                        " FROM {} AS t").format(sql.Identifier("mendb", table))  # fmt: skip
        seen[table] = conn.execute(query).fetchone()
    seen["train"] = table_md5(conn, "train")
    return seen


@pytest.fixture
def invoke(dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("MENDB_HOME", str(tmp_path))
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, [*args, "--json"], catch_exceptions=False)

    return run


def test_every_bad_input_exits_1_names_it_and_writes_nothing(
    invoke: Any, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    make_table(conn, n=80, seed=3)
    make_table(conn, "gone", n=80, seed=4)
    for name, table in (("d", "train"), ("g", "gone")):
        assert invoke("register", name, "--table", table, *REGISTER).exit_code == 0
        assert invoke("value", name, "--method", "knn_shapley", "--k", "5").exit_code == 0
    make_table(conn, "cols", n=80, seed=5)
    assert invoke("register", "c", "--table", "cols", *REGISTER).exit_code == 0
    conn.execute("DROP TABLE gone")
    conn.execute("ALTER TABLE cols DROP COLUMN b")
    rows = tmp_path / "rows.csv"
    rows.write_text("id,a,label\n1,0.5,0\n2,1.5,1\n")
    huge = str(10**20)
    cases: list[tuple[list[str], str]] = [
        (["register", "bad name!", "--table", "train", *REGISTER], "bad name!"),
        (["register", "9lives", "--table", "train", *REGISTER], "9lives"),
        (["register", "x" * 70, "--table", "train", *REGISTER], "x" * 60),
        (["register", "nul\x00name", "--table", "train", *REGISTER], "nul"),
        (["register", "own", "--table", "mendb.datasets", "--key", "name", "--label", "task"],
         "mendb.datasets"),
        (["register", "pg", "--table", "pg_catalog.pg_class", "--key", "oid", "--label",
          "relkind"], "pg_catalog.pg_class"),
        (["register", "v", "--table", "train", *REGISTER, "--features", "a:vector"], "'a'"),
        (["register", "v", "--table", "train", *REGISTER, "--features", "colour:numeric"],
         "'colour'"),
        (["register", "v", "--table", "train", *REGISTER, "--features", "a,note:vector"],
         "'note'"),
        (["value", "d", "--method", "knn_shapley", "--k", "-1"], "k=-1"),
        (["value", "d", "--method", "knn_shapley", "--k", huge], f"k={huge}"),
        (["value", "d", "--method", "tmc_shapley", "--max-samples", "-5"], "max-samples=-5"),
        (["value", "d", "--method", "tmc_shapley", "--jobs", str(machine_cores() + 1)], "jobs"),
        (["value", "d", "--method", "tmc_shapley", "--jobs", "0"], "jobs"),
        (["value", "d", "--method", "knn_shapley", "--param", "k=\"five\""], "k='five'"),
        (["value", "d", "--seed", "-2"], "seed=-2"),
        (["scores", "d", "--limit", "-1"], "limit=-1"),
        (["scores", "d", "--limit", huge], f"limit={huge}"),
        (["review", "d", "--limit", "0"], "limit=0"),
        (["propose", "d", "--max-rows", "-3"], "max-rows=-3"),
        (["propose", "d", "--max-rows", huge], f"max-rows={huge}"),
        (["propose", "d", "--k", "0"], "k=0"),
        (["accept", huge], huge),
        (["loop", "d", "--budget", "-1"], "budget=-1"),
        (["loop", "d", "--max-rounds", huge], "max-rounds"),
        (["explain", "d", "--run", "-4"], "run=-4"),
        (["value", "g"], "public.gone"),
        (["value", "g", "--method", "knn_shapley"], "public.gone"),
        (["scores", "g"], "public.gone"),
        (["propose", "g", "--max-rows", "5"], "public.gone"),
        (["apply", "g"], "public.gone"),
        (["explain", "g"], "public.gone"),
        (["loop", "g", "--max-rounds", "1"], "public.gone"),
        (["report", "g", "--out", str(tmp_path / "g.html")], "public.gone"),
        (["value", "c", "--method", "knn_shapley"], "'b'"),
        (["explain", "c"], "'b'"),
        (["loop", "c"], "'b'"),
        (["report", "d", "--out", str(tmp_path / "missing" / "r.html")],
         str(tmp_path / "missing")),
        (["report", "d", "--out", str(tmp_path)], str(tmp_path)),
        (["export", "d", "--to", str(tmp_path / "missing" / "e.csv")], str(tmp_path / "missing")),
        (["import", str(tmp_path / "nowhere.csv"), "--table", "public.t"], "nowhere.csv"),
        (["import", str(rows), "--table", "mendb.rows"], "mendb.rows"),
    ]  # fmt: skip
    before = _snapshot(conn)
    for args, named in cases:
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        error = json.loads(result.stderr)
        assert named in json.dumps(error, ensure_ascii=False), (args, error)
        assert _snapshot(conn) == before, args
    assert not (tmp_path / "missing").exists() and not (tmp_path / "g.html").exists()
    assert conn.execute("SELECT to_regclass('public.t')").fetchone() == (None,)


def test_a_dropped_validation_table_is_named(invoke: Any, conn: psycopg.Connection[Any]) -> None:
    make_table(conn, n=80)
    make_table(conn, "checked", n=40, seed=5)
    args = ["register", "d", "--table", "train", *REGISTER, "--validation-table", "checked"]
    assert invoke(*args).exit_code == 0
    conn.execute("DROP TABLE checked")
    result = invoke("value", "d", "--method", "knn_shapley")
    assert result.exit_code == 1
    assert json.loads(result.stderr)["table"] == "public.checked"
    assert conn.execute("SELECT count(*) FROM mendb.runs").fetchone() == (0,)


def test_the_sql_list_of_parameters_is_the_methods_own(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        "SELECT kind, method, param, json_type, nullable FROM mendb.request_params"
    ).fetchall()
    in_sql = {(k, m, p): (t, n) for k, m, p, t, n in rows}
    expected = {
        ("value", method, name): spec
        for method in METHODS
        for name, spec in run_param_types("value", method).items()
    } | {
        (kind, "", name): spec
        for kind in ("propose", "loop", "revert")
        for name, spec in run_param_types(kind, None).items()
        if name != "method"  # mendb.request moves it to the run's method column
    }
    assert in_sql == expected


def _request(conn: psycopg.Connection[Any], kind: str, params: dict[str, Any]) -> Any:
    return conn.execute("SELECT mendb.request(%s, 'd', %s)", [kind, Jsonb(params)]).fetchone()


def test_mendb_request_refuses_what_post_runs_refuses(
    client: TestClient, conn: psycopg.Connection[Any], auth: dict[str, Headers]
) -> None:
    make_table(conn)
    body = {"name": "d", "table": "public.train", "key": "id", "label": "label"}
    assert client.post("/datasets", json=body, headers=auth["admin"]).status_code == 201
    refused: list[tuple[str, dict[str, Any], str]] = [
        ("value", {"method": "knn_shapley", "q": 1}, "q"),
        ("value", {"method": "knn_shapley", "k": "5"}, "k"),
        ("value", {"method": "knn_shapley", "k": 5.5}, "k"),
        ("value", {"method": "knn_shapley", "k": True}, "k"),
        ("value", {"method": "knn_shapley", "k": None}, "k"),
        ("value", {"method": "tmc_shapley", "max_time": "soon"}, "max_time"),
        ("value", {"method": "tmc_shapley", "n_jobs": 0}, "n_jobs"),
        ("value", {"method": "tmc_shapley", "n_jobs": 10**6}, "n_jobs"),
        ("value", {"method": "astrology"}, "method"),
        ("propose", {"max_rows": "all"}, "max_rows"),
        ("propose", {"verify": 1}, "verify"),
        ("propose", {"rows": 5}, "rows"),
        ("apply", {"now": True}, "now"),
        ("loop", {"budgett": 5}, "budgett"),
        ("loop", {"budget": [5]}, "budget"),
        ("loop", {"max_rounds": 2.5}, "max_rounds"),
    ]
    reviewer = auth["review"]
    for kind, params, named in refused:
        method = params.pop("method", None)
        answer = client.post(
            "/runs",
            json={"dataset": "d", "kind": kind, "method": method, "params": params},
            headers=reviewer,
        )
        assert answer.status_code == 422, (kind, params, answer.json())
        assert answer.json()["column"] == named, (kind, params, answer.json())
        with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
            _request(conn, kind, {**params, **({"method": method} if method else {})})
        assert named in str(error.value), (kind, params, str(error.value))
    assert conn.execute("SELECT count(*) FROM mendb.runs").fetchone() == (0,)
    accepted: list[tuple[str, dict[str, Any]]] = [
        ("value", {"method": "knn_shapley", "k": 5, "utility": "auto"}),
        ("value", {"method": "tmc_shapley", "max_time": 2, "seed": None, "n_jobs": -1}),
        ("value", {"method": "tmc_shapley", "n_jobs": 1, "model": {"any": "thing"}}),
        ("propose", {"max_rows": 5, "k": 3, "verify": False, "method": "knn_shapley"}),
        ("apply", {}),
        ("loop", {"budget": None, "max_rounds": 2, "margin": 1.5, "policy": "review"}),
    ]
    for kind, params in accepted:
        method = params.get("method")
        rest = {k: v for k, v in params.items() if k != "method"}
        answer = client.post(
            "/runs",
            json={"dataset": "d", "kind": kind, "method": method, "params": rest},
            headers=reviewer,
        )
        assert answer.status_code == 202, (kind, params, answer.json())
        assert _request(conn, kind, params) is not None
    assert conn.execute("SELECT count(*) FROM mendb.runs").fetchone() == (2 * len(accepted),)
