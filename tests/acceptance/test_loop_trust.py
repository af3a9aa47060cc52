"""The loop on an imbalanced table whose classes overlap: decisions on validation
only, a noise model that knows a flip goes one way, and judges that erasing a class
cannot fool."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest

from mendb.db import datasets
from mendb.server.context import Mendb
from mendb.server.loop import LoopConfig, run_loop
from tests.factories import make_imbalanced_table, table_md5

TRAIN = "mendb.split_unit(0, id::text) >= 0.4"


def _under_report(
    conn: psycopg.Connection[Any], share: float = 0.4, seed: int = 0, where: str = TRAIN
) -> list[int]:
    """Record `share` of the minority training rows as the majority (never the
    reverse), as when one class is under-reported."""
    minority = [
        r[0] for r in conn.execute(f"SELECT id FROM train WHERE label = 1 AND {where} ORDER BY id")
    ]
    rng = np.random.default_rng(seed)
    flipped = sorted(rng.choice(minority, round(share * len(minority)), replace=False).tolist())
    conn.execute("UPDATE train SET label = 0 WHERE id = ANY(%s)", [flipped])
    return flipped


def _minority_share(conn: psycopg.Connection[Any], where: str = TRAIN) -> float:
    row = conn.execute(f"SELECT avg((label = 1)::int)::float8 FROM train WHERE {where}").fetchone()
    assert row is not None
    return float(row[0])


def test_under_reporting_with_a_trusted_validation_table_never_erases_the_minority(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_imbalanced_table(conn, "train", n=700, seed=3)
    make_imbalanced_table(conn, "checked", n=300, seed=4)
    datasets.register(
        conn, "d", "train", "id", "label", None,
        datasets.SplitSpec(validation_table="public.checked"),
    )  # fmt: skip
    _under_report(conn, where="true")  # with a validation table every row trains
    before = _minority_share(conn, "true")
    outcome = run_loop(app, "d", LoopConfig(max_rounds=3, k=10), lambda _: None)
    moved_down = conn.execute(
        "SELECT count(*) FROM mendb.repairs WHERE dataset = 'd' AND kind = 'label'"
        " AND status = 'applied' AND old_value = '1' AND new_value = '0'"
    ).fetchone()
    assert moved_down == (0,)  # every recorded minority row is truly minority
    assert _minority_share(conn, "true") >= before
    for r in outcome.rounds:
        assert r["validation"] == "trusted"
        if r["decision"] == "kept":
            assert r["valid_log_loss_after"] < r["valid_log_loss_before"]
            assert r["judges"]


def test_no_decision_reads_the_sealed_test(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    """Two copies of a noisy table that differ only in the labels of their sealed
    test rows go through the same rounds, with the same repairs."""
    make_imbalanced_table(conn, "train", n=500, seed=5)
    _under_report(conn, 0.3, seed=1)
    conn.execute("CREATE TABLE other AS SELECT * FROM train")
    conn.execute("ALTER TABLE other ADD PRIMARY KEY (id)")
    conn.execute(
        "UPDATE other SET label = 1 - label WHERE mendb.split_unit(0, id::text) >= 0.2"
        " AND mendb.split_unit(0, id::text) < 0.4"
    )
    seen = []
    for name, table in (("a", "train"), ("b", "other")):
        datasets.register(conn, name, table, "id", "label")
        # Accepting from 0.6 makes the rounds apply (and judge) relabels.
        config = LoopConfig(max_rounds=2, k=10, min_confidence=0.6, min_verified_confidence=0.6)
        outcome = run_loop(app, name, config, lambda _: None)
        repairs = conn.execute(
            "SELECT row_key, column_name, new_value, status FROM mendb.repairs"
            " WHERE dataset = %s ORDER BY row_key, column_name",
            [name],
        ).fetchall()
        rounds = [(r["decision"], r["code"], r["applied"], r["valid_log_loss_after"])
                  for r in outcome.rounds]  # fmt: skip
        seen.append((rounds, repairs, outcome.reason))
        assert all(r["validation"] == "noisy_corrected" for r in outcome.rounds)
    assert seen[0] == seen[1]
    assert any(applied for _, _, applied, _ in seen[0][0])  # the rounds did decide
    tests = conn.execute(
        "SELECT (SELECT test_before FROM mendb.rounds WHERE dataset = 'a' ORDER BY id LIMIT 1),"
        " (SELECT test_before FROM mendb.rounds WHERE dataset = 'b' ORDER BY id LIMIT 1)"
    ).fetchone()
    assert tests is not None and tests[0] != tests[1]  # the test rows were measured


def test_relabels_that_erase_the_minority_are_refused_before_they_are_applied(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    make_imbalanced_table(conn, "train", n=500, seed=6)
    make_imbalanced_table(conn, "checked", n=300, seed=7)
    datasets.register(
        conn, "d", "train", "id", "label", None,
        datasets.SplitSpec(validation_table="public.checked"),
    )  # fmt: skip
    config = LoopConfig(budget=20, max_rounds=2, policy="review", k=5)
    run_loop(app, "d", config, lambda _: None)
    before = table_md5(conn)
    conn.execute("UPDATE mendb.repairs SET status = 'rejected' WHERE dataset = 'd'")
    conn.execute(
        "INSERT INTO mendb.repairs (dataset, row_key, column_name, old_value, new_value, kind,"
        " repairer, confidence, status) SELECT 'd', id::text, 'label', '1', '0', 'label',"
        " 'careless', 1, 'accepted' FROM train WHERE label = 1 AND id % 2 = 0"
    )
    outcome = run_loop(app, "d", config, lambda _: None)
    last = outcome.rounds[-1]
    assert last["decision"] == "refused" and last["code"] == "label_shift"
    assert "reference" in last["label_distribution"]
    assert table_md5(conn) == before
    statuses = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT status FROM mendb.repairs WHERE repairer = 'careless'"
        )
    }
    assert statuses == {"rejected"}


@pytest.mark.parametrize("trusted", [True, False])
def test_every_round_records_its_judges_and_relabels_by_direction(
    app: Mendb, conn: psycopg.Connection[Any], trusted: bool
) -> None:
    make_imbalanced_table(conn, "train", n=500, seed=8, separation=3.0)
    split = None
    if trusted:
        make_imbalanced_table(conn, "checked", n=300, seed=9, separation=3.0)
        split = datasets.SplitSpec(validation_table="public.checked")
    datasets.register(conn, "d", "train", "id", "label", None, split)
    conn.execute(f"UPDATE train SET label = 1 - label WHERE id % 10 = 0 AND {TRAIN}")
    logged: list[str] = []
    outcome = run_loop(app, "d", LoopConfig(max_rounds=2, k=10), logged.append)
    first = outcome.rounds[0]
    assert first["valid_log_loss_before"] is not None and first["valid_balanced_before"] is not None
    assert first["test_log_loss_before"] is not None
    if first["applied"]:
        assert sum(m["count"] for m in first["relabels"]) <= first["applied"]
        assert {"before", "after", "reference"} <= set(first["label_distribution"])
    assert any(line.startswith("sealed test (reported only") for line in logged)
    assert any("validation table" in line for line in logged) != trusted
    loop = conn.execute(
        "SELECT metrics FROM mendb.runs WHERE id = %s", [outcome.loop_id]
    ).fetchone()
    assert loop is not None and loop[0]["code"] and "sealed_test" in loop[0]
