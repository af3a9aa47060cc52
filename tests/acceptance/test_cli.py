"""The `mendb` command line end to end on a real database, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from mendb.server.cli import cli
from tests.factories import make_table, table_md5


@pytest.fixture
def mendb(dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("MENDB_HOME", str(tmp_path))
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Any:
        result = runner.invoke(cli, [*args, "--json"], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout)
        assert result.exit_code == 1, result.output
        return json.loads(result.stderr)

    return run


def test_a_whole_round_from_the_command_line(mendb: Any, conn: psycopg.Connection[Any]) -> None:
    make_table(conn, n=150, seed=4)
    before = table_md5(conn)
    conn.execute("UPDATE train SET label = 1 - label WHERE id IN (0, 1, 2, 3, 4, 5, 6, 7)")
    noisy = table_md5(conn)
    registered = mendb(
        "register",
        "demo",
        "--table",
        "public.train",
        "--key",
        "id",
        "--label",
        "label",
        "--features",
        "a,b,colour",
    )
    assert [f["kind"] for f in registered["features"]] == ["numeric", "numeric", "categorical"]
    assert [d["name"] for d in mendb("datasets")] == ["demo"]
    run = mendb("value", "demo", "--method", "knn_shapley", "--k", "5")
    assert run["rows"] > 0 and run["params"]["k"] == 5
    lowest = mendb("scores", "demo", "--limit", "5")
    assert [r["rank"] for r in lowest] == [1, 2, 3, 4, 5]
    proposed = mendb("propose", "demo", "--max-rows", "30", "--k", "5")["proposed"]
    assert proposed
    listed = mendb("review", "demo", "--status", "proposed")
    assert sorted(r["id"] for r in listed) == sorted(proposed)
    first, *rest = proposed
    assert mendb("reject", str(first))["rejected"] == [first]
    accepted = mendb("accept", "--dataset", "demo", "--min-confidence", "0")["accepted"]
    assert accepted == sorted(rest)
    applied = mendb("apply", "demo")
    assert applied["done"] == sorted(rest) and applied["stale"] == []
    assert mendb("apply", "demo")["done"] == []
    row = conn.execute("SELECT status_by FROM mendb.repairs WHERE id = %s", [rest[0]]).fetchone()
    assert row is not None and row[0].startswith("cli:")  # the OS user and the role
    if rest:
        assert mendb("revert", "demo", "--all")["done"] == sorted(rest, reverse=True)
    assert table_md5(conn) == noisy != before


def test_errors_name_what_is_wrong(mendb: Any, conn: psycopg.Connection[Any]) -> None:
    make_table(conn)
    error = mendb(
        "register", "x", "--table", "public.train", "--key", "id", "--label", "nope", ok=False
    )
    assert error["error"] == "UnknownColumn" and error["column"] == "nope"
    assert error["table"] == "public.train"
    assert mendb("value", "ghost", ok=False)["error"] == "UnknownDataset"
    mendb("register", "x", "--table", "train", "--key", "id", "--label", "label")
    usage = CliRunner().invoke(cli, ["value", "x", "--method", "astrology"])
    assert usage.exit_code == 2 and "astrology" in usage.output  # click names the bad choice
    assert "k=0" in mendb("value", "x", "--k", "0", ok=False)["message"]
    assert mendb("propose", "x", ok=False)["error"] == "NoScores"


def test_import_and_export_files(mendb: Any, tmp_path: Path, conn: psycopg.Connection[Any]) -> None:
    source = tmp_path / "rows.csv"
    lines = ["name,size,weight,label"] + [
        f"item{i},{i % 7},{(i * 37) % 11 / 3:.3f},{'big' if i % 7 > 3 else 'small'}"
        for i in range(40)
    ]
    source.write_text("\n".join(lines) + "\n")
    imported = mendb("import", str(source), "--table", "public.items")
    assert imported == {"table": "public.items", "rows": 40}
    types = dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'items'"
        ).fetchall()
    )
    assert types["row_id"] == "bigint" and types["size"] == "bigint"
    assert types["weight"] == "double precision" and types["label"] == "text"
    assert mendb("import", str(source), "--table", "public.items", ok=False)["error"] == "Conflict"
    mendb(
        "register",
        "items",
        "--table",
        "public.items",
        "--key",
        "row_id",
        "--label",
        "label",
        "--features",
        "size,weight",
    )
    mendb("value", "items", "--k", "3")
    files = mendb("export", "items", "--to", str(tmp_path / "out.parquet"))["files"]
    import duckdb

    scores = duckdb.sql(f"SELECT count(*), min(rank) FROM '{files[0]}'").fetchall()[0]
    assert scores is not None and scores[0] > 0 and scores[1] == 1
    assert Path(files[1]).name == "out_repairs.parquet" and Path(files[1]).exists()


def test_demo_end_to_end_at_a_small_size(mendb: Any) -> None:
    report = mendb("demo", "--rows", "400", "--seed", "1")
    assert report["flipped"] > 10
    assert report["precision"] >= 0.75
    assert report["accuracy_repaired"] > report["accuracy_noisy"]


def test_every_command_has_help() -> None:
    runner = CliRunner()
    names = list(cli.commands)
    for name in names:
        command = cli.commands[name]
        assert command.help, name
        assert runner.invoke(cli, [name, "--help"]).exit_code == 0


def test_every_command_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name, command in cli.commands.items():
        if isinstance(command, type(cli)):
            for sub in command.commands:
                assert f"mendb {name} {sub}" in readme, f"mendb {name} {sub}"
        else:
            assert f"mendb {name}" in readme, f"mendb {name}"


def test_sampling_methods_and_consensus(mendb: Any, conn: psycopg.Connection[Any]) -> None:
    make_table(conn, n=60, seed=8)
    mendb(
        "register", "d", "--table", "train", "--key", "id", "--label", "label", "--features", "a,b"
    )
    first = mendb("value", "d", "--method", "tmc_shapley", "--max-samples", "20", "--seed", "3")
    again = mendb("value", "d", "--method", "tmc_shapley", "--max-samples", "20", "--seed", "3")
    assert first["params"]["seed"] == 3 and "mtm" in first["diagnostics"]
    values = conn.execute(
        "SELECT run_id, array_agg(value ORDER BY row_key) FROM mendb.scores"
        " WHERE run_id = ANY(%s) GROUP BY run_id",
        [[first["run_id"], again["run_id"]]],
    ).fetchall()
    assert values[0][1] == values[1][1]  # same seed, same values
    mendb("value", "d", "--method", "data_oob", "--max-samples", "50", "--seed", "1")
    mendb("value", "d", "--method", "knn_shapley", "--k", "5")
    combined = mendb("value", "d", "--method", "consensus")
    assert combined["params"]["methods"] == ["data_oob", "knn_shapley", "tmc_shapley"]
    assert len(combined["diagnostics"]["spearman"]) == 3
    stderr = conn.execute(
        "SELECT max(stderr), max(samples) FROM mendb.scores WHERE run_id = %s", [first["run_id"]]
    ).fetchone()
    assert stderr is not None and stderr[0] > 0 and stderr[1] > 1
    logistic = ["--param", "model=logistic", "--param", "score=probability"]
    soft = mendb("value", "d", "--method", "data_oob", "--max-samples", "30", *logistic)
    assert soft["params"]["model"] == "logistic" and soft["params"]["score"] == "probability"
    pair = mendb(
        "value", "d", "--method", "consensus", "--param", 'methods=["knn_shapley", "data_oob"]'
    )
    assert pair["params"]["methods"] == ["knn_shapley", "data_oob"]


@pytest.mark.parametrize("method", ["influence_sgd", "influence_adam"])
def test_gradient_influence_end_to_end(
    mendb: Any, conn: psycopg.Connection[Any], method: str, tmp_path: Path
) -> None:
    make_table(conn, n=80, seed=9)
    mendb(
        "register",
        "d",
        "--table",
        "train",
        "--key",
        "id",
        "--label",
        "label",
        "--features",
        "a,b,colour",
    )
    run = mendb(
        "value",
        "d",
        "--method",
        method,
        "--seed",
        "5",
        "--param",
        "epochs=2",
        "--param",
        "d_proj=64",
    )
    assert run["params"]["seed"] == 5 and run["params"]["d_proj"] == 64
    assert run["params"]["workdir"] == str(tmp_path / "work")
    count = conn.execute(
        "SELECT count(*), count(DISTINCT value) FROM mendb.row_values WHERE method = %s", [method]
    ).fetchone()
    assert count is not None and count[0] == run["rows"] and count[1] > 1
    assert not any((tmp_path / "work").glob("**/*.npy"))  # scratch gradients removed


def test_value_without_a_method_picks_one_and_says_why(
    mendb: Any, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn, n=150, seed=4)
    mendb("register", "demo", "--table", "public.train", "--key", "id", "--label", "label",
          "--features", "a,b,colour")  # fmt: skip
    run = mendb("value", "demo")
    assert run["chosen_because"] and run["rows"] > 0
    parts = [p["method"] for p in run["parts"]]
    assert run["method"] != "consensus" or len(parts) >= 2
    found = {r["method"] for r in mendb("scores", "demo", "--limit", "500")}
    assert {run["method"], *parts} <= found


def test_register_says_which_row_number_it_left_out(mendb: Any, tmp_path: Path) -> None:
    """An R data set written to CSV carries its row names as a column."""
    source = tmp_path / "boston.csv"
    lines = ["rownames,rooms,price"] + [
        f"{i + 1},{4 + i % 5},{10 + i * 0.37:.2f}" for i in range(60)
    ]
    source.write_text("\n".join(lines) + "\n")
    mendb("import", str(source), "--table", "public.boston")
    registered = mendb("register", "b", "--table", "boston", "--key", "row_id", "--label", "price")
    assert registered["left_out"] == ["rownames"]
    assert [f["name"] for f in registered["features"]] == ["rooms"]
    text = CliRunner().invoke(cli, ["datasets"])
    assert text.exit_code == 0 and "rownames" not in text.output
