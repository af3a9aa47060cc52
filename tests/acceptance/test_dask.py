"""`mendb value --scheduler`: the same values on a Dask cluster as locally."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from mendb.server.cli import cli
from tests.factories import make_table


@pytest.mark.filterwarnings("ignore")  # distributed's cluster start-up chatter
def test_value_on_a_dask_cluster_equals_local(
    dsn: str, conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from click.testing import CliRunner
    from distributed import LocalCluster

    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("MENDB_HOME", str(tmp_path))
    make_table(conn, n=50, seed=2)
    runner = CliRunner()
    args = ["--json"]
    assert (
        runner.invoke(
            cli,
            [
                "register",
                "d",
                "--table",
                "train",
                "--key",
                "id",
                "--label",
                "label",
                "--features",
                "a,b",
                *args,
            ],
        ).exit_code
        == 0
    )
    common = ["value", "d", "--method", "tmc_shapley", "--max-samples", "16", "--seed", "4"]
    local = runner.invoke(cli, [*common, *args])
    assert local.exit_code == 0, local.output
    with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        remote = runner.invoke(cli, [*common, "--scheduler", cluster.scheduler_address, *args])
    assert remote.exit_code == 0, remote.output
    rows = conn.execute(
        "SELECT run_id, array_agg(value ORDER BY row_key) FROM mendb.scores GROUP BY run_id"
        " ORDER BY run_id"
    ).fetchall()
    assert len(rows) == 2 and rows[0][1] == rows[1][1]
    params = conn.execute("SELECT params->>'executor' FROM mendb.runs ORDER BY id").fetchall()
    assert params[1][0].startswith("DaskExecutor(")
