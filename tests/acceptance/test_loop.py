"""The self-improving loop end to end on a real database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from mendb.db import datasets
from mendb.db.errors import MendbError
from mendb.server import operations
from mendb.server.context import Mendb
from mendb.server.loop import LoopConfig, choose_method, run_loop
from mendb.server.report import build_report, write_html, write_pngs
from tests.factories import make_table, table_md5


def noisy_dataset(
    app: Mendb, conn: psycopg.Connection[Any], n: int = 240, flips: int = 24
) -> list[int]:
    make_table(conn, n=n, seed=11)
    datasets.register(
        conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,b,colour")
    )
    keys = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM train WHERE mendb.split_unit(0, id::text) >= 0.4 ORDER BY id LIMIT %s",
            [flips],
        )
    ]
    conn.execute("UPDATE train SET label = 1 - label WHERE id = ANY(%s)", [keys])
    return keys


def test_the_loop_improves_and_records_every_round(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    flipped = noisy_dataset(app, conn)
    logged: list[str] = []
    outcome = run_loop(app, "d", LoopConfig(budget=30, max_rounds=3, k=5), logged.append)
    assert outcome.status == "done" and outcome.rounds
    first = outcome.rounds[0]
    assert first["proposals"] > 0 and first["decision"] == "kept"
    # Judged on the validation rows: a kept round lowered their log-loss.
    assert first["valid_log_loss_after"] < first["valid_log_loss_before"]
    assert all(
        r["decision"] in ("kept", "rolled_back", "stopped", "refused") for r in outcome.rounds
    )
    applied = conn.execute(
        "SELECT row_key FROM mendb.repairs WHERE dataset = 'd' AND status = 'applied'"
    ).fetchall()
    hits = sum(int(k) in flipped for (k,) in applied)
    assert applied and hits / len(applied) >= 0.75
    assert any("rows with" in line for line in logged)  # the explanation is printed
    loop = conn.execute(
        "SELECT status, params FROM mendb.runs WHERE id = %s", [outcome.loop_id]
    ).fetchone()
    assert loop is not None and loop[0] == "done" and loop[1]["budget"] == 30


def test_a_cell_blown_up_a_hundredfold_is_put_back_though_its_value_is_positive(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    """KNN-Shapley gives a row pushed far from the data a small positive value; the
    loop still looks at it (hard evidence), and the repair restores the cell."""
    noisy_dataset(app, conn, flips=0)
    rows = conn.execute(
        "SELECT id, b FROM train WHERE mendb.split_unit(0, id::text) >= 0.4 AND b > 0.5"
        " ORDER BY id LIMIT 3"
    ).fetchall()
    conn.execute("UPDATE train SET b = b * 100 WHERE id = ANY(%s)", [[k for k, _ in rows]])
    run_loop(app, "d", LoopConfig(max_rounds=1, k=5), lambda _: None)
    repaired = dict(
        conn.execute(
            "SELECT row_key::int, new_value::float8 FROM mendb.repairs WHERE dataset = 'd'"
            " AND column_name = 'b' AND evidence ? 'decimal_shift'"
        ).fetchall()
    )
    assert repaired == pytest.approx({k: b for k, b in rows}, rel=1e-6)  # b is a real


def test_no_harmful_row_stops_the_loop_only_once_no_broken_cell_is_left(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    """Two classes far apart: KNN-Shapley values no row as harmful, not even one
    whose cell was blown up a hundredfold (it is nobody's neighbour). The loop still
    mends that cell, and stops the round after, with nothing left to repair."""
    make_table(conn, n=120, seed=4)
    conn.execute("UPDATE train SET a = a + 10 * label, b = b + 10 * label")
    datasets.register(
        conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,b")
    )
    ((row, a),) = conn.execute(
        "SELECT id, a FROM train WHERE mendb.split_unit(0, id::text) >= 0.4 AND a > 1"
        " ORDER BY id LIMIT 1"
    ).fetchall()
    conn.execute("UPDATE train SET a = a * 100 WHERE id = %s", [row])
    outcome = run_loop(app, "d", LoopConfig(method="knn_shapley", k=5), lambda _: None)
    assert [r["negative_rows"] for r in outcome.rounds] == [0, 0]
    assert outcome.rounds[0]["applied"] == 1 and outcome.rounds[0]["decision"] == "kept"
    mended = conn.execute("SELECT a FROM train WHERE id = %s", [row]).fetchone()
    assert mended is not None and mended[0] == pytest.approx(a)
    assert outcome.reason == (
        "no row of d is valued below 0 (harmful), and none has a broken cell or a"
        " contradicted label to repair"
    )


def test_a_round_that_hurts_is_rolled_back(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    noisy_dataset(app, conn)
    config = LoopConfig(budget=20, max_rounds=3, policy="review", k=5)
    assert run_loop(app, "d", config, lambda _: None).status == "paused"
    before = table_md5(conn)
    # A careless reviewer rejects the proposals and accepts, by hand, "repairs" that
    # swap the labels of as many class-0 as class-1 training rows: the classes keep
    # their shares, the model gets worse, and the round must be undone.
    conn.execute("UPDATE mendb.repairs SET status = 'rejected' WHERE dataset = 'd'")
    for old, new in (("0", "1"), ("1", "0")):
        conn.execute(
            "INSERT INTO mendb.repairs (dataset, row_key, column_name, old_value, new_value,"
            " kind, repairer, confidence, status) SELECT 'd', id::text, 'label', %s, %s,"
            " 'label', 'careless', 1, 'accepted' FROM train WHERE label = %s::int"
            " AND mendb.split_unit(0, id::text) >= 0.4 ORDER BY id LIMIT 25",
            [old, new, old],
        )
    outcome = run_loop(app, "d", config, lambda _: None)
    last = outcome.rounds[-1]
    assert last["decision"] == "rolled_back"
    assert last["valid_log_loss_after"] > last["valid_log_loss_before"]
    assert outcome.status == "done" and "reverted" in outcome.reason
    assert table_md5(conn) == before
    statuses = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT status FROM mendb.repairs WHERE repairer = 'careless'"
        )
    }
    assert statuses == {"reverted"}


def test_auto_policy_rejects_what_it_passes_over_and_stops_when_nothing_is_accepted(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    """A proposal under the minimum confidence is rejected (with who and when in the
    audit trail), not left open: an open proposal would keep its row from being
    proposed again with the cleaner evidence of a later round."""
    noisy_dataset(app, conn)
    before = table_md5(conn)
    config = LoopConfig(budget=30, min_confidence=1.0, min_verified_confidence=1.0, k=5)
    outcome = run_loop(app, "d", config, lambda _: None)
    assert outcome.status == "done" and len(outcome.rounds) == 1
    assert outcome.reason == "no proposal was at least 1 confident"
    assert outcome.rounds[0]["proposals"] > 0 and outcome.rounds[0]["accepted"] == 0
    assert outcome.rounds[0]["decision"] == "stopped"
    statuses = conn.execute(
        "SELECT r.status, e.new_status, e.changed_by FROM mendb.repairs r"
        " JOIN mendb.repair_events e ON e.repair_id = r.id AND e.new_status = 'rejected'"
        " WHERE r.dataset = 'd'"
    ).fetchall()
    assert len(statuses) == outcome.rounds[0]["proposals"]
    assert {(s, a) for s, _, a in statuses} == {("rejected", app.settings.actor)}
    assert table_md5(conn) == before  # nothing applied


def test_review_policy_pauses_and_resumes(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    noisy_dataset(app, conn)
    config = LoopConfig(budget=20, max_rounds=1, policy="review", k=5)
    paused = run_loop(app, "d", config, lambda _: None)
    assert paused.status == "paused" and paused.rounds[0]["status"] == "awaiting_review"
    again = run_loop(app, "d", config, lambda _: None)
    assert again.status == "paused" and "await review" in again.reason
    conn.execute(
        "UPDATE mendb.repairs SET status = 'accepted' WHERE dataset = 'd' AND confidence >= 0.7"
    )
    conn.execute(
        "UPDATE mendb.repairs SET status = 'rejected' WHERE dataset = 'd' AND status = 'proposed'"
    )
    done = run_loop(app, "d", config, lambda _: None)
    assert done.status == "done" and done.loop_id == paused.loop_id
    assert done.rounds[0]["status"] == "done" and done.rounds[0]["test_after"] is not None


def test_bad_settings_are_refused(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    noisy_dataset(app, conn)
    with pytest.raises(MendbError, match="policy"):
        run_loop(app, "d", LoopConfig(policy="yolo"), print)
    with pytest.raises(MendbError, match="'nope'"):
        run_loop(app, "nope", LoopConfig(), print)
    with pytest.raises(MendbError, match="'lava' ranks rows"):
        run_loop(app, "d", LoopConfig(method="lava"), print)
    with app.connection() as own:
        operations.value_run(own, app.settings, "d", "lava", {})
        with pytest.raises(MendbError, match="lava values rank rows"):
            operations.propose(own, app.settings, "d")


def test_data_oob_drives_the_loop_by_its_own_harm_threshold(
    app: Mendb, conn: psycopg.Connection[Any]
) -> None:
    """Data-OOB values are accuracies in [0, 1], never negative: a row is harmful
    below 0.5, where most learners that did not see it predict another label."""
    flipped = noisy_dataset(app, conn)
    config = LoopConfig(method="data_oob", max_rounds=1, k=5, seed=0)
    outcome = run_loop(app, "d", config, lambda _: None)
    first = outcome.rounds[0]
    assert first["method"] == "data_oob" and first["negative_rows"] > 0
    assert first["proposals"] > 0
    proposed = {
        int(k) for (k,) in conn.execute("SELECT row_key FROM mendb.repairs WHERE dataset = 'd'")
    }
    assert len(proposed & set(flipped)) >= 0.75 * len(proposed)


def test_auto_policy_lets_the_counterfactual_retrain_break_near_ties() -> None:
    improves, hurts = {"verdict": "improves", "delta": 0.01}, {"verdict": "hurts"}
    config = LoopConfig(min_confidence=0.5, min_verified_confidence=0.35)
    assert config.accepts(0.5, None) and config.accepts(0.5, {"verdict": "neutral"})
    assert config.accepts(0.99, hurts)  # a sure repair: the retrain does not veto it
    assert config.accepts(0.4, improves) and not config.accepts(0.4, hurts)
    assert not config.accepts(0.4, None) and not config.accepts(0.3, improves)
    strict = replace(config, verified_only=True)
    assert strict.accepts(0.4, improves) and not strict.accepts(0.9, hurts)
    assert strict.acceptance() == "verified and at least 0.35 confident"
    assert config.acceptance() == "at least 0.5 confident, or 0.35 and verified"
    assert LoopConfig().acceptance() == "at least 0.9 confident"  # the same bar twice
    with pytest.raises(MendbError, match="min-verified-confidence must be between 0 and 1"):
        LoopConfig(min_verified_confidence=1.5).check()


def test_auto_method_says_why() -> None:
    choice = choose_method(1_000_000, {"numeric"}, np.array([600_000, 400_000]))
    assert choice.method == "ts_shapley" and "1,000,000" in choice.reason


def test_report_is_one_self_contained_page(
    app: Mendb, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    noisy_dataset(app, conn)
    run_loop(app, "d", LoopConfig(budget=20, max_rounds=1, k=5), lambda _: None)
    report = build_report(app, "d")
    out = tmp_path / "report.html"
    write_html(report, out)
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 5
    assert "rows with" in page
    assert sorted(p.name for p in write_pngs(report, tmp_path / "png")) == [
        "label_distribution.png",
        "point_removal.png",
        "repairs.png",
        "rounds.png",
        "values.png",
    ]
