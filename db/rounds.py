"""The loop's bookkeeping: `mendb.rounds`, one row per round of a loop run."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

_COLUMNS = frozenset({
    "method", "value_run_id", "rows_valued", "negative_rows", "proposal_ids", "proposals",
    "accepted", "applied", "valid_before", "valid_after", "test_before", "test_after",
    "status", "decision", "reason", "code", "validation",
    "valid_log_loss_before", "valid_log_loss_after", "valid_balanced_before",
    "valid_balanced_after", "valid_macro_f1_before", "valid_macro_f1_after",
    "valid_brier_before", "valid_brier_after", "test_balanced_before", "test_balanced_after",
    "test_log_loss_before", "test_log_loss_after",
})  # fmt: skip
_JSON_COLUMNS = frozenset({"judges", "relabels", "label_distribution"})


def start(
    conn: psycopg.Connection[Any], loop_id: int, dataset: str, number: int, method: str
) -> int:
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO mendb.rounds (loop_id, dataset, round, method) VALUES (%s, %s, %s, %s)"
            " RETURNING id",
            [loop_id, dataset, number, method],
        ).fetchone()
    assert row is not None
    return int(row[0])


def update(conn: psycopg.Connection[Any], round_id: int, **fields: Any) -> None:
    """Set some of the round's columns; 'finish=True' also stamps its end and duration."""
    finish = fields.pop("finish", False)
    unknown = set(fields) - _COLUMNS - _JSON_COLUMNS
    if unknown:
        raise ValueError(f"unknown round columns {sorted(unknown)}")
    values = [Jsonb(v) if name in _JSON_COLUMNS else v for name, v in fields.items()]
    assignments: list[sql.Composable] = [
        sql.SQL("{} = %s").format(sql.Identifier(name)) for name in fields
    ]
    if finish:
        assignments.append(
            sql.SQL(
                "finished_at = clock_timestamp(),"
                " duration_s = extract(epoch FROM clock_timestamp() - started_at)"
            )
        )
    if not assignments:
        return
    with conn.transaction():
        conn.execute(
            sql.SQL("UPDATE mendb.rounds SET {} WHERE id = %s").format(
                sql.SQL(", ").join(assignments)
            ),
            [*values, round_id],
        )


def of_loop(conn: psycopg.Connection[Any], loop_id: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM mendb.rounds WHERE loop_id = %s ORDER BY round", [loop_id]
        ).fetchall()


def paused_loop(conn: psycopg.Connection[Any], dataset: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM mendb.runs WHERE dataset = %s AND kind = 'loop' AND status = 'paused'"
            " ORDER BY id DESC LIMIT 1",
            [dataset],
        ).fetchone()


def latest_loop(conn: psycopg.Connection[Any], dataset: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM mendb.runs WHERE dataset = %s AND kind = 'loop'"
            " AND NOT diagnostics ? 'resumes_loop' ORDER BY id DESC LIMIT 1",
            [dataset],
        ).fetchone()


def set_loop_status(conn: psycopg.Connection[Any], loop_id: int, status: str) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE mendb.runs SET status = %s,"
            " finished_at = CASE WHEN %s IN ('done', 'failed', 'cancelled')"
            " THEN clock_timestamp() END WHERE id = %s",
            [status, status, loop_id],
        )
