"""The loop's bookkeeping: `mendb.rounds`, one row per round of a loop run.

A round is written in steps, each a named query that sets what that step learnt:
started, measured, valued, proposed, and ended by one decision (stopped, refused,
or judged: kept or rolled back)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from mendb.db.queries import query
from mendb.db.runs import Run


class RoundStatus(StrEnum):
    RUNNING = "running"
    AWAITING_REVIEW = "awaiting_review"
    DONE = "done"


class RoundDecision(StrEnum):
    KEPT = "kept"
    ROLLED_BACK = "rolled_back"
    STOPPED = "stopped"
    REFUSED = "refused"


@dataclass(frozen=True)
class Measured:
    """The model's figures at one end of a round, as the `*_before` / `*_after`
    columns hold them: a classifier's or a regressor's, the other's left null."""

    # Deliberately like db/rounds.py:Measured's other fields, one after another: one
    # optional figure a column, which `columns` names with its end.
    valid: float | None = None
    valid_log_loss: float | None = None
    valid_balanced: float | None = None
    valid_macro_f1: float | None = None
    valid_brier: float | None = None
    test: float | None = None
    test_balanced: float | None = None
    test_log_loss: float | None = None
    valid_rmse: float | None = None
    valid_mae: float | None = None
    # Reporting only, as every test_* figure: no decision reads them.
    test_rmse: float | None = None
    test_mae: float | None = None

    def columns(self, end: str) -> dict[str, float | None]:
        return {f"{name}_{end}": value for name, value in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class Round:
    """One row of `mendb.rounds`."""

    id: int
    loop_id: int
    dataset: str
    round: int
    method: str
    status: RoundStatus
    proposal_ids: tuple[int, ...]
    negative_rows: int | None
    decision: RoundDecision | None
    code: str | None
    reason: str | None
    test_before: float | None
    test_after: float | None
    test_balanced_before: float | None
    test_balanced_after: float | None
    test_log_loss_before: float | None
    test_log_loss_after: float | None
    test_rmse_before: float | None
    test_rmse_after: float | None
    test_mae_before: float | None
    test_mae_after: float | None
    record: dict[str, Any]  # the whole row, as the CLI and HTTP show it

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Round:
        names = {f.name for f in dataclasses.fields(cls)} - {"record", "status", "decision"}
        return cls(
            **{name: row[name] for name in names if name != "proposal_ids"},
            proposal_ids=tuple(row["proposal_ids"] or ()),
            status=RoundStatus(row["status"]),
            decision=None if row["decision"] is None else RoundDecision(row["decision"]),
            record=row,
        )


def start(
    conn: psycopg.Connection[Any], loop_id: int, dataset: str, number: int, method: str
) -> int:
    with conn.transaction():
        row = conn.execute(
            query("round_start"),
            {"loop_id": loop_id, "dataset": dataset, "round": number, "method": method},
        ).fetchone()
    assert row is not None
    return int(row[0])


def measured(
    conn: psycopg.Connection[Any], round_id: int, validation: str, before: Measured
) -> None:
    with conn.transaction():
        conn.execute(
            query("round_measured"),
            {"round_id": round_id, "validation": validation, **before.columns("before")},
        )


def valued(
    conn: psycopg.Connection[Any], round_id: int, run_id: int, rows: int, negative_rows: int
) -> None:
    with conn.transaction():
        conn.execute(
            query("round_valued"),
            {"round_id": round_id, "value_run_id": run_id, "rows_valued": rows,
             "negative_rows": negative_rows},
        )  # fmt: skip


def proposed(
    conn: psycopg.Connection[Any],
    round_id: int,
    proposal_ids: list[int],
    accepted: int,
    status: RoundStatus,
) -> None:
    with conn.transaction():
        conn.execute(
            query("round_proposed"),
            {"round_id": round_id, "proposal_ids": proposal_ids, "accepted": accepted,
             "status": str(status)},
        )  # fmt: skip


def stopped(conn: psycopg.Connection[Any], round_id: int, code: str, reason: str) -> None:
    with conn.transaction():
        conn.execute(
            query("round_stopped"), {"round_id": round_id, "code": code, "reason": reason}
        )


@dataclass(frozen=True)
class Verdict:
    """How a round ended after its review: the decision, its code and reason, and
    the figures that back it."""

    decision: RoundDecision
    code: str
    reason: str
    judges: dict[str, Any]
    relabels: list[dict[str, Any]]
    label_distribution: dict[str, Any]
    accepted: int | None = None  # set when a reviewer, not the round, accepted

    def params(self, round_id: int) -> dict[str, Any]:
        return {
            "round_id": round_id, "decision": str(self.decision), "code": self.code,
            "reason": self.reason, "judges": Jsonb(self.judges),
            "relabels": Jsonb(self.relabels),
            "label_distribution": Jsonb(self.label_distribution), "accepted": self.accepted,
        }  # fmt: skip


def refused(conn: psycopg.Connection[Any], round_id: int, verdict: Verdict) -> None:
    with conn.transaction():
        conn.execute(query("round_refused"), verdict.params(round_id))


def judged(
    conn: psycopg.Connection[Any], round_id: int, verdict: Verdict, applied: int, after: Measured
) -> None:
    with conn.transaction():
        conn.execute(
            query("round_judged"),
            {**verdict.params(round_id), "applied": applied, **after.columns("after")},
        )


def of_loop(conn: psycopg.Connection[Any], loop_id: int) -> list[dict[str, Any]]:
    """The loop's rounds as rows, as the CLI and HTTP show them."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query("rounds_of_loop"), {"loop_id": loop_id}).fetchall()


def rounds_of(conn: psycopg.Connection[Any], loop_id: int) -> list[Round]:
    return [Round.from_row(row) for row in of_loop(conn, loop_id)]


def paused_loop(conn: psycopg.Connection[Any], dataset: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query("paused_loop"), {"dataset": dataset}).fetchone()


def paused(conn: psycopg.Connection[Any], dataset: str) -> Run | None:
    """The dataset's loop paused for review, if one is."""
    row = paused_loop(conn, dataset)
    return None if row is None else Run.from_row(row)


def latest_loop(conn: psycopg.Connection[Any], dataset: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query("latest_loop"), {"dataset": dataset}).fetchone()


def set_loop_status(conn: psycopg.Connection[Any], loop_id: int, status: str) -> None:
    with conn.transaction():
        conn.execute(query("set_loop_status"), {"status": str(status), "loop_id": loop_id})
