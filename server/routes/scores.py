"""Scores: the latest values of a dataset's rows, paged, ordered and filtered."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from mendb.db import datasets
from mendb.db.row_values import list_scores
from mendb.server.deps import ConnDep, Reader
from mendb.server.schemas import Page, ScorePublic

router = APIRouter(prefix="/datasets/{name}/scores", tags=["scores"])
Order = Literal["value", "-value", "rank", "row_key"]
Bound = Annotated[float | None, Query(allow_inf_nan=False)]


@router.get("")
def get_scores(
    name: str,
    conn: ConnDep,
    _token: Reader,
    method: str | None = None,
    min_value: Bound = None,
    max_value: Bound = None,
    stale: bool | None = None,
    converged: bool | None = None,
    order: Order = "value",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Page[ScorePublic]:
    """The latest finished valuation of each method (see `mendb.row_values`), lowest
    value first by default; `stale` rows changed since they were valued; a row's
    `converged` is false (with `convergence_warning`) when its run's Monte Carlo
    estimate failed its own convergence checks."""
    datasets.get(conn, name)
    rows = list_scores(
        conn,
        name,
        method=method,
        min_value=min_value,
        max_value=max_value,
        stale=stale,
        converged=converged,
        order=order,
        limit=limit,
        offset=offset,
    )
    return Page[ScorePublic].of([ScorePublic(**r) for r in rows], limit, offset)
