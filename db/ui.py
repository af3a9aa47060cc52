"""What the review page in the browser (`/ui`) reads, and its sessions.

A session stands for an API token: a person pastes the token once, and the browser
keeps a cookie naming the session. Only a SHA-256 hash of the session's id is
stored, with the secret the page's forms carry back (CSRF). Every lookup joins the
token and checks that it is still active, so revoking a token ends its sessions.

Changes of status do not live here: the page calls `db.repairs.review` and
`db.apply` exactly as the HTTP API does, under the token's name.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mendb.db.datasets import Dataset
from mendb.db.queries import query
from mendb.db.tokens import Token, digest

SESSION_SECONDS = 12 * 3600  # a working day; the person pastes the token again after
ORDERS = ("confidence", "id")
NUMERIC_KINDS = ("numeric", "missing")


# Deliberately like repair/diagnose.py's and server/setting_fields.py's dataclasses:
# only the shape of a frozen record of optional fields is shared.
@dataclass(frozen=True)
class UiSession:
    token: Token
    csrf_secret: str


@dataclass(frozen=True)
class ProposalFilter:
    """The proposals page's filters; None means any."""

    kind: str | None = None
    status: str | None = None
    column: str | None = None
    min_confidence: float | None = None

    def params(self, dataset: str) -> dict[str, Any]:
        return {"dataset": dataset, "kind": self.kind, "status": self.status,
                "column": self.column, "min_confidence": self.min_confidence}  # fmt: skip


def open_session(conn: psycopg.Connection[Any], token: Token) -> tuple[str, str]:
    """A new session for `token`: returns its id (for the cookie, stored only hashed)
    and its CSRF secret."""
    session_id = secrets.token_urlsafe(32)
    csrf_secret = secrets.token_urlsafe(32)
    with conn.transaction():
        conn.execute(query("ui_sessions_purge"))
        conn.execute(
            query("ui_session_create"),
            {"id_hash": digest(session_id), "token_id": token.id,
             "csrf_secret": csrf_secret, "seconds": SESSION_SECONDS},
        )  # fmt: skip
    return session_id, csrf_secret


def find_session(conn: psycopg.Connection[Any], session_id: str) -> UiSession | None:
    """The live session with this id and its active token, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query("ui_session_find"), {"id_hash": digest(session_id)}).fetchone()
    if row is None:
        return None
    return UiSession(Token.from_row(row), row["csrf_secret"])


def close_session(conn: psycopg.Connection[Any], session_id: str) -> None:
    with conn.transaction():
        conn.execute(query("ui_session_delete"), {"id_hash": digest(session_id)})


def _rows(
    conn: psycopg.Connection[Any], statement: sql.SQL, params: dict[str, Any]
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(statement, params).fetchall()


def datasets_overview(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return _rows(conn, query("ui_datasets"), {})


def proposals_page(
    conn: psycopg.Connection[Any],
    dataset: str,
    where: ProposalFilter,
    order: str,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the dataset's repairs under the filters, and how many match."""
    params = {**where.params(dataset), "limit": limit, "offset": offset}
    if order == "id":
        rows = _rows(conn, query("ui_proposals_by_id"), params)
    else:
        rows = _rows(conn, query("ui_proposals_by_confidence"), params)
    count = conn.execute(query("ui_proposals_count"), where.params(dataset)).fetchone()
    return rows, int(count[0]) if count else 0


def proposal_columns(conn: psycopg.Connection[Any], dataset: str) -> list[str]:
    rows = conn.execute(query("ui_proposal_columns"), {"dataset": dataset}).fetchall()
    return [str(r[0]) for r in rows]


def proposal(conn: psycopg.Connection[Any], repair_id: int) -> dict[str, Any] | None:
    rows = _rows(conn, query("ui_proposal"), {"repair_id": repair_id})
    return rows[0] if rows else None


def neighbour_ids(conn: psycopg.Connection[Any], repair: dict[str, Any]) -> dict[str, Any]:
    """The ids before and after this repair in the listing's default order."""
    params = {"dataset": repair["dataset"], "confidence": repair["confidence"],
              "repair_id": repair["id"]}  # fmt: skip
    return _rows(conn, query("ui_proposal_neighbours"), params)[0]


def cell_history(conn: psycopg.Connection[Any], repair: dict[str, Any]) -> list[dict[str, Any]]:
    params = {"dataset": repair["dataset"], "row_key": repair["row_key"],
              "column": repair["column_name"]}  # fmt: skip
    return _rows(conn, query("ui_cell_history"), params)


def row_scores(conn: psycopg.Connection[Any], dataset: str, row_key: str) -> list[dict[str, Any]]:
    return _rows(conn, query("ui_row_scores"), {"dataset": dataset, "row_key": row_key})


def numeric_place(
    conn: psycopg.Connection[Any], dataset: Dataset, column: str, value: str | None
) -> dict[str, Any] | None:
    """Where `value` falls in the column's values as the table holds them now: the
    share below it, with the count and range; None when it is not a number or the
    column is not one the dataset registered."""
    if column not in {dataset.label, *(f.name for f in dataset.features)}:
        return None
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    if number is None:
        return None
    statement = query("ui_numeric_percentile").format(
        table=dataset.table.identifier, column=sql.Identifier(column)
    )
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(statement, {"value": number}).fetchone()
    except (psycopg.errors.DataError, psycopg.errors.UndefinedFunction,
            psycopg.errors.CannotCoerce):  # fmt: skip
        return None  # a column that is not numeric has no place to show
    return row if row and row["n"] else None
