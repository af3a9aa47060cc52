"""What the review page's tests look at: a registered table with proposals of each
kind (one cell holding a `<script>` tag), a review token and a read token.

Shared by the fast TestClient tests (tests/acceptance/test_ui_*.py) and the real
browser's (tests/browser/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from mendb.db import datasets, tokens
from mendb.db.repairs import insert_proposals
from mendb.repair.proposals import RepairProposal
from tests.factories import make_table

DATASET = "demo"
SCRIPT = '<script>alert("x")</script>'
REVIEWER = "alice-review"
READER = "bob-read"
LABEL_ROWS = (0, 1, 2, 3, 4)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class World:
    label_ids: list[int]  # highest confidence first
    numeric_id: int
    text_id: int
    review_secret: str
    read_secret: str


def _cell(conn: psycopg.Connection[Any], column: str, row: int) -> str:
    statement = sql.SQL("SELECT {}::text FROM train WHERE id = %s").format(sql.Identifier(column))
    found = conn.execute(statement, [row]).fetchone()
    assert found is not None
    return str(found[0])


def build(conn: psycopg.Connection[Any]) -> World:
    make_table(conn, n=60, seed=3)
    conn.execute("UPDATE train SET note = %s WHERE id = 7", [SCRIPT])
    datasets.register(conn, DATASET, "train", "id", "label")
    labels = []
    for place, row in enumerate(LABEL_ROWS):
        old = _cell(conn, "label", row)
        evidence = {
            "method": "knn_shapley",
            "value": -0.01 * (place + 1),
            "classifier": {"0": 0.2, "1": 0.8} if old == "0" else {"0": 0.8, "1": 0.2},
            "neighbours": [{"key": str(50 + place), "label": "1" if old == "0" else "0",
                            "distance": 0.25}],
        }  # fmt: skip
        verdict = {"verdict": "improves", "delta": 0.02, "margin": 0.01}
        new = "1" if old == "0" else "0"
        confidence = 0.95 - 0.05 * place
        proposal = RepairProposal(
            str(row), "label", old, new, "label", "knn_label_vote", confidence, evidence, verdict
        )
        labels.append(proposal)
    numeric = RepairProposal(
        "10", "a", _cell(conn, "a", 10), "0.5", "numeric", "robust_median", 0.6,
        {"z": 7.5, "decimal_shift": "x10^1"},
    )  # fmt: skip
    text = RepairProposal(
        "7", "note", SCRIPT, "a harmless note", "text", "symspell", 0.5, {"oov_share": 0.4}
    )
    ids = insert_proposals(conn, DATASET, None, [*labels, numeric, text], actor="proposer")
    _, review_secret = tokens.create(conn, REVIEWER, "review")
    _, read_secret = tokens.create(conn, READER, "read")
    return World(ids[: len(labels)], ids[-2], ids[-1], review_secret, read_secret)


def csrf_of(html: str) -> str:
    """The CSRF secret a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF field"
    return found.group(1)


def statuses(conn: psycopg.Connection[Any]) -> dict[int, str]:
    rows = conn.execute("SELECT id, status FROM mendb.repairs ORDER BY id").fetchall()
    return {int(i): str(s) for i, s in rows}


def events(conn: psycopg.Connection[Any], repair_id: int) -> list[tuple[str | None, str, str]]:
    """The repair's audit trail: (old status, new status, who), in order."""
    rows = conn.execute(
        "SELECT old_status, new_status, changed_by FROM mendb.repair_events"
        " WHERE repair_id = %s ORDER BY id",
        [repair_id],
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]
