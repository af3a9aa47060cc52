"""The audit table `mendb.repairs`: proposals in, reviews recorded, listings out.

Every status change is also recorded in `mendb.repair_events` by a trigger, with
the actor taken from the transaction-local setting `mendb.actor` (set here from the
CLI user or the API token's name) or, in psql, the database user.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row

from mendb.db.errors import MendbError
from mendb.db.queries import query
from mendb.repair.proposals import RepairProposal


class RepairStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    APPLIED = "applied"
    REVERTED = "reverted"
    STALE = "stale"


STATUSES = tuple(str(s) for s in RepairStatus)
_ORDERS = ("confidence", "id")


@dataclass(frozen=True)
class Repair:
    """One row of the audit table, as the loop reads it."""

    id: int
    dataset: str
    row_key: str
    column_name: str
    old_value: str | None
    new_value: str | None
    kind: str
    confidence: float
    verification: dict[str, Any] | None
    status: RepairStatus

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Repair:
        return cls(
            id=int(row["id"]), dataset=row["dataset"], row_key=row["row_key"],
            column_name=row["column_name"], old_value=row["old_value"],
            new_value=row["new_value"], kind=row["kind"], confidence=float(row["confidence"]),
            verification=row["verification"], status=RepairStatus(row["status"]),
        )  # fmt: skip


def set_actor(conn: psycopg.Connection[Any], actor: str | None) -> None:
    """Name who is acting, for the rest of the current transaction."""
    if actor:
        conn.execute(query("repairs_set_actor"), {"actor": actor})


def act_for(conn: psycopg.Connection[Any], actor: str) -> None:
    """Name who is acting for the rest of the session: what it records (runs,
    proposals, repair events) names them unless a transaction names another."""
    conn.execute(query("repairs_set_session_actor"), {"actor": actor})


def insert_proposals(
    conn: psycopg.Connection[Any],
    dataset: str,
    run_id: int | None,
    proposals: list[RepairProposal],
    actor: str | None = None,
) -> list[int]:
    """Write proposals with status 'proposed'; returns their ids in order."""
    if not proposals:
        return []
    with conn.transaction():
        set_actor(conn, actor)
        with conn.cursor() as cur:
            cur.executemany(
                query("repairs_insert"),
                [
                    {
                        "dataset": dataset,
                        "run_id": run_id,
                        "row_key": p.row_key,
                        "column_name": p.column,
                        "old_value": p.old_value,
                        "new_value": p.new_value,
                        "kind": p.kind,
                        "repairer": p.repairer,
                        "confidence": p.confidence,
                        "evidence": json.dumps(p.evidence),
                        "verification": (
                            None if p.verification is None else json.dumps(p.verification)
                        ),
                    }
                    for p in proposals
                ],
                returning=True,
            )
            ids = []
            while True:
                row = cur.fetchone()
                ids.append(int(row[0]))  # type: ignore[index]
                if not cur.nextset():
                    break
    return ids


def list_repairs(
    conn: psycopg.Connection[Any],
    dataset: str | None = None,
    status: list[str] | None = None,
    ids: list[int] | None = None,
    min_confidence: float | None = None,
    order: str = "id",
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    if status:
        unknown = sorted(set(status) - set(STATUSES))
        if unknown:
            raise MendbError(f"unknown repair status {unknown[0]!r}; one of {STATUSES}")
    if order not in _ORDERS:
        raise MendbError(f"unknown order {order!r}; one of {sorted(_ORDERS)}")
    params = {
        "dataset": dataset, "statuses": [str(s) for s in status] if status else None,
        "ids": ids or None, "min_confidence": min_confidence, "order": order,
        "limit": limit, "offset": offset,
    }  # fmt: skip
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query("repairs_list"), params).fetchall()


def find(
    conn: psycopg.Connection[Any],
    dataset: str,
    ids: list[int] | None = None,
    status: list[RepairStatus] | None = None,
) -> list[Repair]:
    """The dataset's repairs (of `ids`, of `status`), in id order, as dataclasses."""
    rows = list_repairs(conn, dataset=dataset, ids=ids, status=[str(s) for s in status or []])
    return [Repair.from_row(row) for row in rows]


def review(
    conn: psycopg.Connection[Any],
    decision: str,
    *,
    dataset: str | None = None,
    ids: list[int] | None = None,
    min_confidence: float | None = None,
    verified_only: bool = False,
    actor: str | None = None,
) -> list[int]:
    """Accept or reject proposals, by id or by confidence; returns the ids changed.
    `verified_only` keeps only proposals whose counterfactual retrain improved the
    validation utility (verification verdict `improves`).

    Only a proposal not yet applied can be reviewed; an id that does not exist or
    is already applied is named in the error, and nothing changes.
    """
    if decision not in (RepairStatus.ACCEPTED, RepairStatus.REJECTED):
        raise MendbError(f"decision must be 'accepted' or 'rejected', got {decision!r}")
    if not ids and min_confidence is None and not verified_only:
        raise MendbError("name the repairs to review: ids, or a minimum confidence")
    reviewable = ["proposed", "accepted", "rejected"]
    with conn.transaction():
        set_actor(conn, actor)
        if ids:
            found = {r["id"]: r for r in list_repairs(conn, dataset=dataset, ids=ids)}
            for repair_id in ids:
                if repair_id not in found:
                    where = f" of dataset {dataset!r}" if dataset else ""
                    raise MendbError(f"no repair with id {repair_id}{where}", row=str(repair_id))
                if found[repair_id]["status"] not in reviewable:
                    raise MendbError(
                        f"repair {repair_id} is {found[repair_id]['status']} and cannot be"
                        f" {decision}",
                        row=str(repair_id),
                    )
        rows = conn.execute(
            query("repairs_review"),
            {"decision": str(decision), "reviewable": reviewable, "dataset": dataset,
             "ids": ids or None, "min_confidence": min_confidence,
             "verified_only": verified_only},
        ).fetchall()  # fmt: skip
    return sorted(int(r[0]) for r in rows)


def summary(conn: psycopg.Connection[Any], dataset: str) -> dict[str, int]:
    rows = conn.execute(query("repairs_summary"), {"dataset": dataset}).fetchall()
    return {status: int(count) for status, count in rows}


def values_before_repair(
    conn: psycopg.Connection[Any], dataset: str, column: str
) -> dict[str, str | None]:
    """row key -> the value `column` held before its first repair still applied: the
    value as the source gave it, for rows mendb has changed."""
    rows = conn.execute(
        query("repairs_values_before"), {"dataset": dataset, "column": column}
    ).fetchall()
    return {key: old for key, old in rows}
