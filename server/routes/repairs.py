"""Repairs: list by status, accept or reject one or many, apply, revert. Each
request is one transaction: it changes everything it names or nothing, and the
token's name is written into the audit rows it changes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from mendb.db import datasets
from mendb.db.apply import apply_repairs, revert_repairs
from mendb.db.errors import MendbError
from mendb.db.repairs import list_repairs, review
from mendb.db.tokens import Token
from mendb.server.deps import ConnDep, Reader, Reviewer
from mendb.server.schemas import (
    BatchPublic,
    Page,
    RepairPublic,
    RevertRequest,
    Reviewed,
    ReviewRequest,
)

router = APIRouter(tags=["repairs"])
Status = Literal["proposed", "accepted", "rejected", "applied", "reverted", "stale"]
RepairId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/datasets/{name}/repairs")
def get_repairs(
    name: str,
    conn: ConnDep,
    _token: Reader,
    status: Annotated[list[Status] | None, Query()] = None,
    order: Literal["id", "confidence"] = "id",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Page[RepairPublic]:
    datasets.get(conn, name)
    rows = list_repairs(
        conn,
        dataset=name,
        status=list(status) if status else None,
        order=order,
        limit=limit,
        offset=offset,
    )
    return Page[RepairPublic].of([RepairPublic(**r) for r in rows], limit, offset)


def _review(decision: str, body: ReviewRequest, conn: ConnDep, token: Token) -> Reviewed:
    if body.dataset is not None:
        datasets.get(conn, body.dataset)
    if body.ids is None and (body.dataset is None or body.min_confidence is None):
        raise MendbError("name the repairs: ids, or a dataset and a min_confidence", column="ids")
    changed = review(
        conn,
        decision,
        dataset=body.dataset,
        ids=body.ids,
        min_confidence=body.min_confidence,
        actor=token.name,
    )
    return Reviewed(changed=changed)


@router.post("/repairs/accept")
def accept_repairs(body: ReviewRequest, conn: ConnDep, token: Reviewer) -> Reviewed:
    """Accept proposals by id, or every proposal of a dataset at a minimum confidence."""
    return _review("accepted", body, conn, token)


@router.post("/repairs/reject")
def reject_repairs(body: ReviewRequest, conn: ConnDep, token: Reviewer) -> Reviewed:
    return _review("rejected", body, conn, token)


@router.post("/repairs/{repair_id}/accept")
def accept_repair(repair_id: RepairId, conn: ConnDep, token: Reviewer) -> Reviewed:
    return _review("accepted", ReviewRequest(ids=[repair_id]), conn, token)


@router.post("/repairs/{repair_id}/reject")
def reject_repair(repair_id: RepairId, conn: ConnDep, token: Reviewer) -> Reviewed:
    return _review("rejected", ReviewRequest(ids=[repair_id]), conn, token)


@router.post("/datasets/{name}/apply")
def apply_dataset(name: str, conn: ConnDep, token: Reviewer) -> BatchPublic:
    """Apply every accepted repair of the dataset in one transaction."""
    report = apply_repairs(conn, datasets.get(conn, name), actor=token.name)
    return BatchPublic(**report.to_dict())


@router.post("/datasets/{name}/revert")
def revert_dataset(name: str, body: RevertRequest, conn: ConnDep, token: Reviewer) -> BatchPublic:
    """Put back the old values of applied repairs: `ids`, or `all`."""
    if bool(body.ids) == body.all:
        raise MendbError("give ids (one or more) or all: true", column="ids")
    report = revert_repairs(conn, datasets.get(conn, name), body.ids, actor=token.name)
    return BatchPublic(**report.to_dict())
