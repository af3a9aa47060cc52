"""The datasets page: each registered dataset with its size, task, latest run, open
proposals and loop rounds."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mendb.db import ui
from mendb.server.deps import ConnDep
from mendb.server.ui.pages import render
from mendb.server.ui.session import UiReader

router = APIRouter()


@router.get("/datasets")
def datasets_page(request: Request, conn: ConnDep, _user: UiReader) -> Response:
    rows = ui.datasets_overview(conn)
    return render(request, "datasets.html", title="Datasets", rows=rows)
