"""Applying and reverting repairs: audited, transactional, exactly once."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from mendb.db import datasets
from mendb.db.apply import apply_repairs, revert_repairs
from mendb.db.errors import MendbError
from mendb.db.repairs import insert_proposals, list_repairs, review, values_before_repair
from mendb.repair.proposals import RepairProposal
from mendb.server import operations
from mendb.server.context import Mendb
from tests.factories import make_table, table_md5


def propose_flips(conn: psycopg.Connection[Any], rows: list[int]) -> list[int]:
    proposals = []
    for row in rows:
        label = conn.execute("SELECT label::text FROM train WHERE id = %s", [row]).fetchone()
        assert label is not None
        new = "1" if label[0] == "0" else "0"
        proposals.append(RepairProposal(str(row), "label", label[0], new, "label", "test", 0.9))
    return insert_proposals(conn, "d", None, proposals, actor="proposer")


@pytest.fixture
def dataset(app: Mendb, conn: psycopg.Connection[Any]) -> datasets.Dataset:
    make_table(conn)
    return datasets.register(conn, "d", "train", "id", "label")


def statuses(conn: psycopg.Connection[Any]) -> dict[int, str]:
    return {r["id"]: r["status"] for r in list_repairs(conn, dataset="d")}


def test_apply_then_revert_leaves_the_table_identical(
    conn: psycopg.Connection[Any], dataset: datasets.Dataset
) -> None:
    before = table_md5(conn)
    ids = propose_flips(conn, [1, 2, 3])
    assert review(conn, "accepted", ids=ids, actor="alice") == ids
    report = apply_repairs(conn, dataset, actor="alice")
    assert report.done == ids and report.stale == []
    assert table_md5(conn) != before
    applied = list_repairs(conn, dataset="d")
    assert all(r["status"] == "applied" and r["applied_txid"] for r in applied)
    assert len({r["applied_txid"] for r in applied}) == 1  # one transaction
    assert revert_repairs(conn, dataset, actor="bob").done == sorted(ids, reverse=True)
    assert table_md5(conn) == before
    events = conn.execute(
        "SELECT new_status, changed_by FROM mendb.repair_events WHERE repair_id = %s ORDER BY id",
        [ids[0]],
    ).fetchall()
    assert events == [
        ("proposed", "proposer"),
        ("accepted", "alice"),
        ("applied", "alice"),
        ("reverted", "bob"),
    ]


def test_applying_or_reverting_twice_changes_nothing(
    conn: psycopg.Connection[Any], dataset: datasets.Dataset
) -> None:
    ids = propose_flips(conn, [4])
    review(conn, "accepted", ids=ids)
    apply_repairs(conn, dataset)
    after_first = table_md5(conn)
    assert apply_repairs(conn, dataset).done == []
    assert table_md5(conn) == after_first
    revert_repairs(conn, dataset)
    reverted = table_md5(conn)
    assert revert_repairs(conn, dataset).done == []
    assert table_md5(conn) == reverted


def test_a_row_changed_after_proposing_goes_stale(
    conn: psycopg.Connection[Any], dataset: datasets.Dataset
) -> None:
    ids = propose_flips(conn, [5, 6])
    review(conn, "accepted", ids=ids)
    conn.execute("UPDATE train SET label = 1 - label WHERE id = 5")  # someone else fixed it
    changed = table_md5(conn)
    report = apply_repairs(conn, dataset)
    assert report.stale == [ids[0]] and report.done == [ids[1]]
    assert statuses(conn)[ids[0]] == "stale"
    revert_repairs(conn, dataset)
    assert table_md5(conn) == changed


def test_a_value_in_another_text_form_still_reverts(
    conn: psycopg.Connection[Any], dataset: datasets.Dataset
) -> None:
    """A repair writes '5.0' into a double precision cell, which reads back as '5':
    the revert must see its own value there, not a change by someone else."""
    before = table_md5(conn)
    old = conn.execute("SELECT a::text FROM train WHERE id = 7").fetchone()
    assert old is not None
    proposal = RepairProposal("7", "a", old[0], "5.0", "numeric", "test", 0.9)
    ids = insert_proposals(conn, "d", None, [proposal], actor="proposer")
    review(conn, "accepted", ids=ids)
    assert apply_repairs(conn, dataset).done == ids
    assert conn.execute("SELECT a::text FROM train WHERE id = 7").fetchone() == ("5",)
    report = revert_repairs(conn, dataset)
    assert report.done == ids and report.stale == []
    assert table_md5(conn) == before


def test_the_audit_gives_each_label_as_the_source_gave_it(
    conn: psycopg.Connection[Any], dataset: datasets.Dataset
) -> None:
    source = dict(conn.execute("SELECT id::text, label::text FROM train").fetchall())
    review(conn, "accepted", ids=propose_flips(conn, [1, 2]), actor="alice")
    apply_repairs(conn, dataset, actor="alice")
    review(conn, "accepted", ids=propose_flips(conn, [2, 3]), actor="alice")  # row 2 again
    apply_repairs(conn, dataset, actor="alice")
    assert values_before_repair(conn, "d", "label") == {k: source[k] for k in ("1", "2", "3")}
    assert values_before_repair(conn, "d", "a") == {}
    revert_repairs(conn, dataset, actor="bob")
    assert values_before_repair(conn, "d", "label") == {}


def test_revert_by_id_and_refusals(
    conn: psycopg.Connection[Any], dataset: datasets.Dataset
) -> None:
    ids = propose_flips(conn, [7, 8])
    with pytest.raises(MendbError, match=str(ids[0])):
        revert_repairs(conn, dataset, [ids[0]])
    review(conn, "accepted", ids=ids)
    apply_repairs(conn, dataset)
    assert revert_repairs(conn, dataset, [ids[1]]).done == [ids[1]]
    assert statuses(conn) == {ids[0]: "applied", ids[1]: "reverted"}
    with pytest.raises(MendbError, match="cannot be accepted"):
        review(conn, "accepted", ids=[ids[0]])
    with pytest.raises(MendbError, match="no repair with id 999"):
        review(conn, "rejected", ids=[999])


def test_two_connections_applying_at_once_apply_each_repair_once(
    dsn: str, conn: psycopg.Connection[Any], dataset: datasets.Dataset
) -> None:
    ids = propose_flips(conn, list(range(10, 30)))
    review(conn, "accepted", ids=ids)
    before = {r[0]: r[1] for r in conn.execute("SELECT id, label FROM train")}
    reports = []
    barrier = threading.Barrier(2)

    def run() -> None:
        with psycopg.connect(dsn, autocommit=True) as own:
            barrier.wait()
            reports.append(apply_repairs(own, dataset))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = sorted(i for r in reports for i in r.done)
    assert done == ids and not any(r.stale for r in reports)
    after = {r[0]: r[1] for r in conn.execute("SELECT id, label FROM train")}
    flipped = {k for k in before if before[k] != after[k]}
    assert flipped == set(range(10, 30))


def test_a_repair_on_a_foreign_column_is_refused(
    conn: psycopg.Connection[Any], dataset: datasets.Dataset
) -> None:
    conn.execute(
        "INSERT INTO mendb.repairs (dataset, row_key, column_name, old_value, new_value,"
        " kind, repairer, confidence, status) VALUES ('d', '1', 'id', '1', '999',"
        " 'numeric', 'psql', 1, 'accepted')"
    )
    before = table_md5(conn)
    with pytest.raises(MendbError, match="'id'"):
        apply_repairs(conn, dataset)
    assert table_md5(conn) == before


def test_propose_flags_flipped_labels(app: Mendb, conn: psycopg.Connection[Any]) -> None:
    labels = make_table(conn, n=200, seed=3)
    datasets.register(
        conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,b")
    )
    from mendb.db.read import read_dataset

    train_keys = read_dataset(conn, datasets.get(conn, "d")).arrays.train.keys
    flipped = [int(k) for k in train_keys[:12]]
    conn.execute("UPDATE train SET label = 1 - label WHERE id = ANY(%s)", [flipped])
    with app.connection() as own:
        operations.value_run(own, app.settings, "d", "knn_shapley", {"k": 5})
        ids = operations.propose(own, app.settings, "d", max_rows=50, k=5).ids
    proposals = list_repairs(conn, dataset="d", ids=ids)
    hits = [p for p in proposals if int(p["row_key"]) in flipped]
    assert len(hits) / len(proposals) >= 0.75 and len(hits) >= 8
    for p in hits:
        assert p["new_value"] == str(labels[int(p["row_key"])])
        assert p["evidence"]["neighbours"] and 0 <= p["confidence"] <= 1
        assert 0 <= p["evidence"]["flip_probability"] <= 1 and p["evidence"]["noise_rate"] > 0
    # A flip whose label is still plausible where its row lies gets a low confidence.
    assert sum(p["confidence"] > 0.5 for p in hits) >= 0.75 * len(hits)
    with app.connection() as own:  # no duplicates
        again = operations.propose(own, app.settings, "d", max_rows=50, k=5)
    assert again.ids == [] and "open proposal" in again.reason
