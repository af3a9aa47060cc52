"""Runs: queue a job (202 and its id), follow it, cancel it. The worker does the
work; a request only writes the queued row."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status

from mendb.db import datasets, jobs
from mendb.db.stored_predictions import check_predictions
from mendb.db.tokens import Token
from mendb.server.deps import ConnDep, Reader, Reviewer
from mendb.server.loop import loop_config
from mendb.server.params import check_param_types, public_error
from mendb.server.schemas import RunCreate, RunPublic
from mendb.valuation.methods import make_valuation

router = APIRouter(prefix="/runs", tags=["runs"])
RunId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Status = Literal["queued", "running", "done", "failed", "cancelled"]


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def create_run(body: RunCreate, conn: ConnDep, token: Reviewer, response: Response) -> RunPublic:
    """Queue a valuation (`kind` value: `method` and its `params`), a proposal round
    or an apply; the response carries the run's id, and its URL in Location. The
    user's model (`model`, `model_params`) and a column of stored `predictions` are
    checked before the run is queued."""
    dataset = datasets.get(conn, body.dataset)
    params = dict(body.params)
    if body.kind == "value":
        method = body.method or "knn_shapley"
        check_param_types("value", method, params)
        make_valuation(method, **params)
        params["method"] = method
    else:
        if body.method is not None:
            params["method"] = body.method
        check_param_types(body.kind, None, params)
    if params.get("predictions") is not None:
        check_predictions(conn, dataset, params["predictions"])
    if body.kind == "loop":
        loop_config(params)  # refuse unknown or bad settings now
    run_id = jobs.request(conn, body.kind, body.dataset, params, actor=token.name)
    response.headers["Location"] = f"/runs/{run_id}"
    return RunPublic(**jobs.status(conn, run_id))


@router.get("")
def list_runs(
    conn: ConnDep,
    token: Reader,
    dataset: str | None = None,
    status: Annotated[list[Status] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> list[RunPublic]:
    """Runs, newest first."""
    rows = jobs.list_runs(conn, dataset, list(status) if status else None, limit, offset)
    return [_public(row, token) for row in rows]


@router.get("/{run_id}")
def get_run(run_id: RunId, conn: ConnDep, token: Reader) -> RunPublic:
    """Status, progress (0..1), an estimate of the seconds left, metrics, diagnostics.
    A failed run's `error` is its code and a sentence for a read token; tokens that
    may act on runs see the full detail, as `mendb.runs` keeps it."""
    return _public(jobs.status(conn, run_id), token)


@router.post("/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
def cancel_run(run_id: RunId, conn: ConnDep, _token: Reviewer) -> RunPublic:
    """Cancel a queued run at once; a running one stops at its next progress report."""
    jobs.cancel(conn, run_id)
    return RunPublic(**jobs.status(conn, run_id))


def _public(row: dict[str, Any], token: Token) -> RunPublic:
    if not token.allows("review"):
        row = {**row, "error": public_error(row["error"])}
    return RunPublic(**row)
