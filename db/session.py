"""Who a connection acts for: the role it logged in as, and the actor mendb records."""

from __future__ import annotations

from typing import Any

import psycopg

from mendb.db.queries import query


def session_user(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(query("service_session_user")).fetchone()
    assert row is not None
    return str(row[0])


def set_actor(conn: psycopg.Connection[Any], actor: str) -> None:
    """Name `actor` in whatever this session records from now on."""
    conn.execute(query("service_set_actor"), {"actor": actor})
