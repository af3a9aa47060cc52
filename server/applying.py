"""Applying and reverting accepted repairs, as the CLI, the service and the loop do
it: one transaction each (`db.apply`). Kept apart from `server.operations` so that
`mendb apply` and `mendb revert` start without the numeric stack."""

from __future__ import annotations

from typing import Any

import psycopg

from mendb.db import datasets
from mendb.db.apply import BatchReport, apply_repairs, revert_repairs
from mendb.server.context import Mendb


def apply(app: Mendb, name: str) -> BatchReport:
    with app.connection() as conn:
        return apply_accepted(conn, name, app.settings.actor)


def revert(app: Mendb, name: str, ids: list[int] | None = None) -> BatchReport:
    with app.connection() as conn:
        return revert_applied(conn, name, ids, app.settings.actor)


def apply_accepted(conn: psycopg.Connection[Any], name: str, actor: str | None) -> BatchReport:
    return apply_repairs(conn, datasets.get(conn, name), actor)


def revert_applied(
    conn: psycopg.Connection[Any], name: str, ids: list[int] | None, actor: str | None
) -> BatchReport:
    return revert_repairs(conn, datasets.get(conn, name), ids, actor)
