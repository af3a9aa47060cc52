"""The report's figures in `/ui`: value distributions, point-removal curves, the
loop's judges and label distribution per round, and repairs by kind and status.

They are `mendb report`'s own (`server.report.build_report`), drawn once per page
view and embedded as PNG data URIs (the page's CSP allows `img-src 'self' data:`),
so one view trains the point-removal models once rather than once per image.
"""

from __future__ import annotations

import base64
import io
import threading

import matplotlib.pyplot as plt
from fastapi import APIRouter, Request
from fastapi.responses import Response
from matplotlib.figure import Figure

from mendb.db import datasets
from mendb.server.deps import AppDep, ConnDep
from mendb.server.report import build_report
from mendb.server.ui.pages import render
from mendb.server.ui.session import UiReader

router = APIRouter()
TITLES = {
    "values": "Value of each training row, by method",
    "point_removal": "Point removal: lowest-valued rows first against highest first",
    "rounds": "The loop's judges per round",
    "label_distribution": "Training label distribution per round",
    "repairs": "Repairs by kind and status",
}
# pyplot keeps global state (the current figure): two pages drawn at once in the
# server's threadpool would draw into each other's figures.
_drawing = threading.Lock()


@router.get("/figures")
def figures_index(request: Request, conn: ConnDep, _user: UiReader) -> Response:
    return render(
        request, "dataset_index.html", title="Figures", page="figures",
        intro="The report's figures of a dataset (drawn when the page opens, which takes"
        " a moment):",
        datasets=[d.name for d in datasets.list_all(conn)],
    )


@router.get("/datasets/{name}/figures")
def figures_page(
    request: Request, name: str, conn: ConnDep, app: AppDep, _user: UiReader
) -> Response:
    datasets.get(conn, name)  # an unknown dataset is a 404 before anything is drawn
    with _drawing:
        report = build_report(app, name)
        try:
            figures = [
                {"name": key, "title": TITLES.get(key, key.replace("_", " ")),
                 "src": data_uri(figure)}
                for key, figure in report.figures.items()
            ]  # fmt: skip
        finally:  # pyplot keeps every figure it made alive until it is closed
            for figure in report.figures.values():
                plt.close(figure)
    return render(request, "figures.html", title=f"Figures of {name}", dataset=name,
                  figures=figures, explanation=report.tables["explanation"])  # fmt: skip


def data_uri(figure: Figure) -> str:
    """The figure as a PNG data URI."""
    return "data:image/png;base64," + base64.b64encode(png(figure)).decode("ascii")


def png(figure: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
