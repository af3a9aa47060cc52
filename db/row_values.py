"""Listing `mendb.row_values` (the latest scores of each dataset and method) with
filters, an order from a whitelist, and paging, built with SQLAlchemy Core. Each
row says whether its run's estimate converged (`converged`, null for exact
methods) and, when not, why (`convergence_warning`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from psycopg import Connection
from psycopg.rows import dict_row
from sqlalchemy.dialects import postgresql

from mendb.db.errors import MendbError

_metadata = sa.MetaData(schema="mendb")
row_values = sa.Table(
    "row_values", _metadata,
    *(sa.Column(name) for name in (
        "dataset", "row_key", "method", "value", "stderr", "samples", "rank", "run_id",
        "computed_at", "stale", "converged", "convergence_warning",
    )),
)  # fmt: skip
_c = row_values.c
ORDERS = {
    "value": (_c.value, _c.row_key),
    "-value": (_c.value.desc(), _c.row_key),
    "rank": (_c.method, _c.rank),
    "row_key": (_c.row_key, _c.method),
}


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
    query = sa.select(row_values).where(_c.dataset == dataset)
    if method is not None:
        query = query.where(_c.method == method)
    if min_value is not None:
        query = query.where(_c.value >= min_value)
    if max_value is not None:
        query = query.where(_c.value <= max_value)
    if stale is not None:
        query = query.where(_c.stale == stale)
    if converged is not None:  # unconverged: the runs whose checks failed, not exact ones
        query = query.where(_c.converged.is_(converged))
    query = query.order_by(*ORDERS[order]).limit(limit).offset(offset)
    compiled = query.compile(dialect=postgresql.psycopg.dialect())  # type: ignore[no-untyped-call]
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(str(compiled), compiled.params).fetchall()
