"""A dataset's proposals (filtered, sorted and paged on the server), and one
proposal with its change, its evidence and the cell's history."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import Response

from mendb.db import datasets, ui
from mendb.db.repairs import STATUSES
from mendb.server.deps import ConnDep
from mendb.server.ui.diffs import percent, vector_change, word_diff
from mendb.server.ui.pages import render
from mendb.server.ui.session import UiReader

router = APIRouter()
KINDS = ("label", "numeric", "missing", "vector", "text")
PAGE_SIZES = (25, 50, 100, 200)
RepairId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Kind = Literal["", "label", "numeric", "missing", "vector", "text"]
Status = Literal["", "proposed", "accepted", "rejected", "applied", "reverted", "stale"]


def _confidence(text: str) -> float | None:
    """The filter's minimum confidence: blank (the form's empty field) for none."""
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        raise HTTPException(422, f"min_confidence must be a number from 0 to 1, not {text!r}")
    return value


@router.get("/datasets/{name}/proposals")
def proposals_page(
    request: Request,
    name: str,
    conn: ConnDep,
    _user: UiReader,
    kind: Kind = "",
    status_: Annotated[Status, Query(alias="status")] = "",
    column: Annotated[str, Query(max_length=63)] = "",
    min_confidence: Annotated[str, Query(max_length=32)] = "",
    order: Literal["confidence", "id"] = "confidence",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per: Annotated[int, Query(ge=1, le=PAGE_SIZES[-1])] = 50,
) -> Response:
    dataset = datasets.get(conn, name)
    where = ui.ProposalFilter(
        kind=kind or None, status=status_ or None, column=column or None,
        min_confidence=_confidence(min_confidence),
    )  # fmt: skip
    rows, total = ui.proposals_page(conn, name, where, order, per, (page - 1) * per)
    filters: dict[str, Any] = {
        "kind": kind, "status": status_, "column": column,
        "min_confidence": min_confidence.strip(),
        "order": order, "per": per,
    }  # fmt: skip
    pages = max(1, -(-total // per))

    def link(to_page: int) -> str:
        kept = {k: v for k, v in filters.items() if v not in ("", None)}
        return f"/ui/datasets/{name}/proposals?" + urlencode({**kept, "page": to_page})

    return render(
        request, "proposals.html", title=f"{name}: proposals", dataset=dataset, rows=rows,
        total=total, page=page, pages=pages, filters=filters, kinds=KINDS,
        statuses=STATUSES, columns=ui.proposal_columns(conn, name), page_sizes=PAGE_SIZES,
        previous_link=link(page - 1) if page > 1 else None,
        next_link=link(page + 1) if page < pages else None, here=link(page),
    )  # fmt: skip


@router.get("/proposals/{repair_id}")
def proposal_page(
    request: Request, repair_id: RepairId, conn: ConnDep, _user: UiReader
) -> Response:
    repair = ui.proposal(conn, repair_id)
    if repair is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no repair with id {repair_id}")
    dataset = datasets.get(conn, repair["dataset"])
    evidence: dict[str, Any] = repair["evidence"] or {}
    change: dict[str, Any] = {}
    if repair["kind"] == "text":
        change["words"] = word_diff(repair["old_value"], repair["new_value"])
    elif repair["kind"] == "vector":
        change["vector"] = vector_change(repair["old_value"], repair["new_value"], evidence)
    elif repair["kind"] in ui.NUMERIC_KINDS or (
        repair["kind"] == "label" and dataset.task == "regression"
    ):
        column = repair["column_name"]
        change["old_place"] = ui.numeric_place(conn, dataset, column, repair["old_value"])
        change["new_place"] = ui.numeric_place(conn, dataset, column, repair["new_value"])
    known = {"neighbours", "classifier", "votes"}
    return render(
        request, "proposal.html", title=f"repair {repair_id}", repair=repair,
        dataset=dataset, change=change, evidence=evidence,
        neighbours=[n for n in evidence.get("neighbours", []) if isinstance(n, dict)],
        probabilities=evidence.get("classifier") or {}, votes=evidence.get("votes") or {},
        other_evidence={k: v for k, v in evidence.items() if k not in known},
        verification=repair["verification"] or {}, history=ui.cell_history(conn, repair),
        scores=ui.row_scores(conn, repair["dataset"], repair["row_key"]),
        around=ui.neighbour_ids(conn, repair), percent=percent,
        here=f"/ui/proposals/{repair_id}",
    )  # fmt: skip
