"""The audit table `mendb.repairs`: proposals in, reviews recorded, listings out.

Every status change is also recorded in `mendb.repair_events` by a trigger, with
the actor taken from the transaction-local setting `mendb.actor` (set here from the
CLI user or the API token's name) or, in psql, the database user.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import dict_row
from sqlalchemy.dialects import postgresql

from mendb.db.errors import MendbError
from mendb.repair.proposals import RepairProposal

STATUSES = ("proposed", "accepted", "rejected", "applied", "reverted", "stale")

# The Core description of the audit table, used to build the dynamic listing
# queries (filters, order, paging) without writing SQL from strings.
_metadata = sa.MetaData(schema="mendb")
repairs_table = sa.Table(
    "repairs", _metadata,
    *(sa.Column(name) for name in (
        "id", "dataset", "run_id", "row_key", "column_name", "old_value", "new_value", "kind",
        "repairer", "confidence", "evidence", "verification", "status", "created_at",
        "created_by", "status_at", "status_by", "applied_txid", "reverted_txid",
    )),
)  # fmt: skip
_ORDERS = {"id": repairs_table.c.id, "confidence": repairs_table.c.confidence.desc()}


def set_actor(conn: psycopg.Connection[Any], actor: str | None) -> None:
    """Name who is acting, for the rest of the current transaction."""
    if actor:
        conn.execute("SELECT set_config('mendb.actor', %s, true)", [actor])


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
                "INSERT INTO mendb.repairs (dataset, run_id, row_key, column_name, old_value,"
                " new_value, kind, repairer, confidence, evidence, verification)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)"
                " RETURNING id",
                [
                    (
                        dataset,
                        run_id,
                        p.row_key,
                        p.column,
                        p.old_value,
                        p.new_value,
                        p.kind,
                        p.repairer,
                        p.confidence,
                        json.dumps(p.evidence),
                        None if p.verification is None else json.dumps(p.verification),
                    )
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
    query = sa.select(repairs_table)
    if dataset is not None:
        query = query.where(repairs_table.c.dataset == dataset)
    if status:
        unknown = sorted(set(status) - set(STATUSES))
        if unknown:
            raise MendbError(f"unknown repair status {unknown[0]!r}; one of {STATUSES}")
        query = query.where(repairs_table.c.status.in_(status))
    if ids:
        query = query.where(repairs_table.c.id.in_(ids))
    if min_confidence is not None:
        query = query.where(repairs_table.c.confidence >= min_confidence)
    if order not in _ORDERS:
        raise MendbError(f"unknown order {order!r}; one of {sorted(_ORDERS)}")
    query = query.order_by(_ORDERS[order], repairs_table.c.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    compiled = query.compile(
        dialect=postgresql.psycopg.dialect(), compile_kwargs={"render_postcompile": True}
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(str(compiled), compiled.params).fetchall()


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
    if decision not in ("accepted", "rejected"):
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
            "UPDATE mendb.repairs SET status = %s"
            " WHERE status = ANY(%s) AND status <> %s"
            " AND (%s::text IS NULL OR dataset = %s)"
            " AND (%s::bigint[] IS NULL OR id = ANY(%s))"
            " AND (%s::float8 IS NULL OR confidence >= %s)"
            " AND (%s::bigint[] IS NOT NULL OR status = 'proposed')"
            " AND (NOT %s OR verification->>'verdict' = 'improves')"
            " RETURNING id",
            [
                decision,
                reviewable,
                decision,
                dataset,
                dataset,
                ids or None,
                ids or None,
                min_confidence,
                min_confidence,
                ids or None,
                verified_only,
            ],
        ).fetchall()
    return sorted(int(r[0]) for r in rows)


def summary(conn: psycopg.Connection[Any], dataset: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) FROM mendb.repairs WHERE dataset = %s GROUP BY status",
        [dataset],
    ).fetchall()
    return {status: int(count) for status, count in rows}


def values_before_repair(
    conn: psycopg.Connection[Any], dataset: str, column: str
) -> dict[str, str | None]:
    """row key -> the value `column` held before its first repair still applied: the
    value as the source gave it, for rows mendb has changed."""
    rows = conn.execute(
        "SELECT DISTINCT ON (row_key) row_key, old_value FROM mendb.repairs"
        " WHERE dataset = %s AND column_name = %s AND status = 'applied'"
        " ORDER BY row_key, id",
        [dataset, column],
    ).fetchall()
    return {key: old for key, old in rows}
