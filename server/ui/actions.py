"""Accept, reject, bulk accept above a confidence, apply and revert, from the page.

Each action is one transaction through the functions the HTTP API uses
(`db.repairs.review`, `db.apply`), with the token's name as the actor, so the audit
rows read the same whichever way a person acted. Each answers with a redirect back
to the page it came from, carrying the transaction's result: what changed, what
was stale, or that it was already done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from mendb.db import datasets
from mendb.db.apply import BatchReport, apply_repairs, revert_repairs
from mendb.db.errors import MendbError
from mendb.db.repairs import review
from mendb.server.deps import ConnDep
from mendb.server.ui.flash import redirect_with, safe_back
from mendb.server.ui.session import UiReviewer, field, posted

router = APIRouter()
RepairId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_IDS = 1_000
PAST = {"apply": "Applied", "revert": "Reverted"}
VERB = {"accepted": "accept", "rejected": "reject"}


def _ids(request: Request, name: str = "ids") -> list[int]:
    found = [v for v in posted(request).get(name, []) if v.isdigit()][:MAX_IDS]
    return sorted({int(v) for v in found})


def _names(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _reviewed(decision: str, changed: list[int], asked: list[int] | None) -> str:
    if not changed:
        return f"Nothing changed: already {decision}."
    done = f"{decision.capitalize()} {len(changed)}: {_names(changed)}."
    already = sorted(set(asked or []) - set(changed))
    return done + (f" Already {decision}: {_names(already)}." if already else "")


def _batch(verb: str, report: BatchReport) -> str:
    if not report.done and not report.stale:
        return f"Nothing to {verb}: already done."
    said = f"{PAST[verb]} {len(report.done)}: {_names(report.done)}."
    if report.stale:
        said += f" Stale (the row changed since), not written: {_names(report.stale)}."
    return said


def _act(request: Request, default_back: str, action: str, run: Callable[[], str]) -> Response:
    back = safe_back(field(request, "back"), default_back)
    try:
        notice = run()
    except MendbError as error:
        notice = f"Could not {action}: {error}"
    return redirect_with(back, notice)


def _review_one(
    decision: str, request: Request, repair_id: int, conn: ConnDep, actor: str
) -> Response:
    return _act(
        request, f"/ui/proposals/{repair_id}", VERB[decision],
        lambda: _reviewed(decision, review(conn, decision, ids=[repair_id], actor=actor),
                          [repair_id]),
    )  # fmt: skip


@router.post("/proposals/{repair_id}/accept")
def accept_one(request: Request, repair_id: RepairId, conn: ConnDep, user: UiReviewer) -> Response:
    return _review_one("accepted", request, repair_id, conn, user.name)


@router.post("/proposals/{repair_id}/reject")
def reject_one(request: Request, repair_id: RepairId, conn: ConnDep, user: UiReviewer) -> Response:
    return _review_one("rejected", request, repair_id, conn, user.name)


@router.post("/datasets/{name}/review")
def review_many(request: Request, name: str, conn: ConnDep, user: UiReviewer) -> Response:
    """The checked proposals of a page, accepted or rejected together."""
    decision = "rejected" if field(request, "decision") == "reject" else "accepted"
    ids = _ids(request)

    def run() -> str:
        datasets.get(conn, name)
        if not ids:
            return "Nothing changed: no proposal was checked."
        return _reviewed(decision, review(conn, decision, dataset=name, ids=ids,
                                          actor=user.name), ids)  # fmt: skip

    return _act(request, f"/ui/datasets/{name}/proposals", "review", run)


@router.post("/datasets/{name}/accept-above")
def accept_above(request: Request, name: str, conn: ConnDep, user: UiReviewer) -> Response:
    """Every proposed repair of the dataset at or above a confidence."""

    def run() -> str:
        datasets.get(conn, name)
        try:
            threshold = float(field(request, "min_confidence") or "nan")
        except ValueError:
            threshold = float("nan")
        if not 0 <= threshold <= 1:
            raise MendbError("the minimum confidence must be a number from 0 to 1")
        changed = review(conn, "accepted", dataset=name, min_confidence=threshold,
                         actor=user.name)  # fmt: skip
        if not changed:
            return f"Nothing changed: no proposed repair at confidence {threshold:g} or above."
        return _reviewed("accepted", changed, None)

    return _act(request, f"/ui/datasets/{name}/proposals", "accept", run)


@router.post("/datasets/{name}/apply")
def apply(request: Request, name: str, conn: ConnDep, user: UiReviewer) -> Response:
    return _act(
        request, f"/ui/datasets/{name}/proposals", "apply",
        lambda: _batch("apply", apply_repairs(conn, datasets.get(conn, name), actor=user.name)),
    )  # fmt: skip


@router.post("/datasets/{name}/revert")
def revert(request: Request, name: str, conn: ConnDep, user: UiReviewer) -> Response:
    """Revert one repair (a row's button posts `one`), the checked ids, or every
    applied repair when `all` is posted."""
    ids = _ids(request, "one") or _ids(request)
    every = field(request, "all") == "true"

    def run() -> str:
        if not ids and not every:
            return "Nothing reverted: name the repairs, or revert all."
        report = revert_repairs(conn, datasets.get(conn, name), None if every else ids,
                                actor=user.name)  # fmt: skip
        return _batch("revert", report)

    return _act(request, f"/ui/datasets/{name}/proposals", "revert", run)
