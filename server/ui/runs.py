"""The runs pages of `/ui`: the list of runs, a run with its progress and time
left, and its Cancel button.

The run page stays live through `static/live.js`, which polls the run's progress
record (`/ui/runs/{id}/progress`, JSON, on the session's cookie, not a bearer
token) every second or two until the run ends. Cancel goes through `db.jobs.cancel`,
the function the API's `POST /runs/{id}/cancel` calls, so a queued run is cancelled
at once and a running one stops at its next progress report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from mendb.db import jobs, ui_runs
from mendb.db.errors import Conflict
from mendb.db.tokens import Token
from mendb.server.deps import ConnDep
from mendb.server.params import public_error
from mendb.server.ui.pages import render
from mendb.server.ui.session import UiReader, UiReviewer

router = APIRouter()
RunId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Status = Literal["queued", "running", "paused", "done", "failed", "cancelled"]
PAGE = 50  # runs per page of the list
ENDED = ("done", "failed", "cancelled")
CANCELLABLE = ("queued", "running", "paused")


@router.get("/runs")
def list_runs(
    request: Request,
    conn: ConnDep,
    _user: UiReader,
    dataset: Annotated[str | None, Query(max_length=63)] = None,
    run_status: Annotated[Status | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Runs, newest first, of a dataset and a status when asked; a page past the
    last one is simply empty."""
    dataset = dataset or None
    statuses: list[str] | None = [run_status] if run_status else None
    rows = jobs.list_runs(conn, dataset, statuses, PAGE + 1, (page - 1) * PAGE)
    return render(
        request, "runs.html", title="Runs", runs=[_shown(r) for r in rows[:PAGE]],
        dataset=dataset or "", status=run_status or "", statuses=list(get_args(Status)),
        page=page, has_next=len(rows) > PAGE,
    )  # fmt: skip


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: RunId, conn: ConnDep, user: UiReader) -> Response:
    return _run_page(request, conn, user, run_id)


@router.get("/runs/{run_id}/progress")
def run_progress(run_id: RunId, conn: ConnDep, _user: UiReader) -> dict[str, Any]:
    """The run's progress record, as the run page's poller reads it."""
    row = ui_runs.progress(conn, run_id)
    return {
        "id": row["id"],
        "status": row["status"],
        "progress": row["progress"],
        "percent": _percent(row["progress"]),
        "eta_seconds": row["eta_seconds"],
        "eta": _duration(row["eta_seconds"]),
        "cancel_requested": row["cancel_requested"],
        "started_at": _when(row["started_at"]),
        "finished_at": _when(row["finished_at"]),
        "ended": row["status"] in ENDED,
    }


@router.post("/runs/{run_id}/cancel")
def cancel_run(request: Request, run_id: RunId, conn: ConnDep, user: UiReviewer) -> Response:
    """Cancel the run as the API does; a run that has already ended says so on its
    page (409) instead of changing anything."""
    try:
        jobs.cancel(conn, run_id)
    except Conflict as error:
        return _run_page(request, conn, user, run_id, notice=str(error),
                         status_code=status.HTTP_409_CONFLICT)  # fmt: skip
    return RedirectResponse(f"/ui/runs/{run_id}", status.HTTP_303_SEE_OTHER)


def _run_page(
    request: Request,
    conn: ConnDep,
    user: Token,
    run_id: int,
    notice: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    run = _shown(jobs.status(conn, run_id))
    if not user.allows("review"):
        run["error"] = public_error(run["error"])
    return render(
        request, "runs_detail.html", status_code=status_code, title=f"Run {run_id}", run=run,
        cancellable=run["status"] in CANCELLABLE and not run["cancel_requested"],
        live=run["status"] not in ENDED, notice=notice,
    )  # fmt: skip


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A run as the pages show it: times as text, progress as a percentage, the
    estimate of the time left in words."""
    return {
        **row,
        "percent": _percent(row["progress"]),
        "eta": _duration(row.get("eta_seconds")),
        "created": _when(row.get("created_at")),
        "started": _when(row.get("started_at")),
        "finished": _when(row.get("finished_at")),
    }


def _percent(progress: float | None) -> str:
    return f"{100 * (progress or 0.0):.0f}%"


def _when(moment: datetime | None) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") if moment else ""


def _duration(seconds: float | None) -> str:
    """Seconds in words a person reads at a glance: 45 s, 3 min 20 s, 2 h 05 min."""
    if seconds is None:
        return ""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
