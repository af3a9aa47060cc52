"""Listing `mendb.row_values` (the latest scores of each dataset and method) with
filters, an order from a whitelist, and paging: the one read behind both the
HTTP scores route and `mendb scores`. Each row says whether its run's estimate
converged (`converged`, null for exact methods) and, when not, why
(`convergence_warning`)."""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from mendb.db.errors import MendbError
from mendb.db.queries import query

ORDERS = ("value", "-value", "rank", "row_key")


def list_scores(
    conn: Connection[Any],
    dataset: str,
    *,
    method: str | None = None,
    min_value: float | None = None,
    max_value: float | None = None,
    stale: bool | None = None,
    converged: bool | None = None,
    order: str = "value",
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    if order not in ORDERS:
        raise MendbError(f"unknown order {order!r}; one of {sorted(ORDERS)}", column="order")
    params = {
        "dataset": dataset, "method": method, "min_value": min_value, "max_value": max_value,
        "stale": stale, "converged": converged, "order": order, "limit": limit,
        "offset": offset,
    }  # fmt: skip
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query("scores_list"), params).fetchall()
