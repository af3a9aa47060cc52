"""Scores: written by COPY, read back unchanged, queryable through mendb.row_values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from mendb.db import datasets, runs
from mendb.db.errors import NoScores
from mendb.db.row_values import list_scores
from mendb.db.scores import read_scores, write_scores
from mendb.server import operations
from mendb.server.cli import cli
from mendb.server.context import Mendb
from mendb.server.routes.scores import get_scores
from mendb.valuation.result import ValuationResult
from tests.factories import make_table


def test_scores_round_trip(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn)
    datasets.register(conn, "d", "train", "id", "label")
    run_id = runs.create(conn, "d", "value", "knn_shapley", {})
    rng = np.random.default_rng(0)
    keys = np.array(["a", "b\tc", "ünï", "x" * 300, "", "7"], dtype=object)
    result = ValuationResult(keys, rng.normal(size=6), rng.random(6), np.arange(6), "m", {}, 1)
    write_scores(conn, run_id, result)
    got_keys, got_values = read_scores(conn, run_id)
    order = np.argsort(keys)
    assert list(got_keys) == sorted(keys)
    np.testing.assert_array_equal(got_values, result.values[order])
    stored = conn.execute(
        "SELECT row_key, stderr, samples, rank FROM mendb.scores WHERE run_id = %s", [run_id]
    ).fetchall()
    ranks = dict(zip(keys, result.ranks(), strict=True))
    for key, stderr, samples, rank in stored:
        i = list(keys).index(key)
        assert stderr == result.stderr[i] and samples == result.counts[i] and rank == ranks[key]


def test_value_run_is_queryable_in_sql(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn, n=80)
    datasets.register(
        conn, "demo", "train", "id", "label", datasets.parse_feature_spec("a,b,colour")
    )
    seen: list[float] = []
    with app.connection() as own:
        outcome = operations.value_run(
            own, app.settings, "demo", "knn_shapley", {"k": 5}, seen.append
        )
    assert seen[-1] == 1.0
    run = runs.get(conn, outcome.run_id)
    assert run["status"] == "done"
    assert run["params"] == {"k": 5, "utility": run["diagnostics"]["utility"], "seed": None}
    assert run["rows_read"] == 80 and len(run["fingerprint"]) == 64
    rows = conn.execute(
        "select * from mendb.row_values where dataset = 'demo' order by value limit 20"
    ).fetchall()
    assert len(rows) == 20
    values = [r[3] for r in rows]
    assert values == sorted(values) and rows[0][6] == 1
    total = conn.execute("SELECT count(*) FROM mendb.row_values WHERE dataset = 'demo'").fetchone()
    assert total is not None and total[0] == run["metrics"]["train_rows"]


def test_latest_run_wins_and_failed_runs_are_recorded(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn)
    datasets.register(
        conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,b")
    )
    with app.connection() as own, pytest.raises(NoScores):
        operations.propose(own, app.settings, "d")
    with app.connection() as own:
        operations.value_run(own, app.settings, "d", "knn_shapley", {"k": 3})
        second = operations.value_run(own, app.settings, "d", "knn_shapley", {"k": 7})
    run_ids = {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM mendb.row_values")}
    assert run_ids == {second.run_id}
    with app.connection() as own, pytest.raises(ValueError, match="k=0"):
        operations.value_run(own, app.settings, "d", "knn_shapley", {"k": 0})
    failed = conn.execute(
        "SELECT status, error FROM mendb.runs ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert failed is not None and failed[0] == "failed" and "k=0" in failed[1]


def test_an_unconverged_run_is_flagged_in_row_values_and_the_cli(
    app: Mendb,
    conn: psycopg.Connection[Any],
    dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_table(conn, n=40)
    datasets.register(
        conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,b")
    )
    # Two permutations per chain cannot show R-hat below its limit, and a standard
    # error of 1e-9 is out of reach of eight permutations.
    tiny_params = {"max_samples": 8, "n_chains": 4, "stderr_below": 1e-9, "seed": 0}
    with app.connection() as own:
        operations.value_run(own, app.settings, "d", "knn_shapley", {"k": 3})
        tiny = operations.value_run(own, app.settings, "d", "tmc_shapley", tiny_params)
    convergence = runs.get(conn, tiny.run_id)["diagnostics"]["convergence"]
    assert convergence["converged"] is False
    assert convergence["criteria"] == {"stderr_below": False}
    flags = conn.execute(
        "SELECT method, converged, convergence_warning, count(*) FROM mendb.row_values"
        " WHERE dataset = 'd' GROUP BY 1, 2, 3 ORDER BY 1"
    ).fetchall()
    assert [(m, c) for m, c, _, _ in flags] == [("knn_shapley", None), ("tmc_shapley", False)]
    warning = flags[1][2]
    assert "stderr_below was not met" in warning and warning == convergence["warning"]

    listed = list_scores(conn, "d", converged=False, limit=1000)
    assert {r["method"] for r in listed} == {"tmc_shapley"} and len(listed) == flags[1][3]
    assert all(r["convergence_warning"] == warning for r in listed)
    page = get_scores("d", conn, None, converged=False, limit=2)  # the HTTP handler
    assert [(s.method, s.converged, s.convergence_warning) for s in page.items] == [
        ("tmc_shapley", False, warning)
    ] * 2

    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("MENDB_HOME", str(tmp_path))
    runner = CliRunner()
    shown = runner.invoke(cli, ["scores", "d", "--method", "tmc_shapley", "--limit", "3"])
    assert shown.exit_code == 0, shown.output
    assert "did not converge" in shown.stderr and "stderr_below" in shown.stderr
    assert "NO" in shown.stdout
    as_json = runner.invoke(cli, ["scores", "d", "--limit", "100", "--json"])
    rows = json.loads(as_json.stdout)
    assert {(r["method"], r["converged"]) for r in rows} == {
        ("knn_shapley", None),
        ("tmc_shapley", False),
    }
    exact = runner.invoke(cli, ["scores", "d", "--method", "knn_shapley"])
    assert "did not converge" not in exact.stderr


def test_a_converged_run_is_shown_as_converged(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    make_table(conn, n=12)
    datasets.register(
        conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,b")
    )
    with app.connection() as own:
        outcome = operations.value_run(
            own, app.settings, "d", "tmc_shapley", {"max_samples": 400, "n_chains": 4, "seed": 0}
        )
    assert outcome.diagnostics["convergence"]["converged"] is True
    flags = conn.execute(
        "SELECT DISTINCT converged, convergence_warning FROM mendb.row_values"
    ).fetchall()
    assert flags == [(True, None)]
