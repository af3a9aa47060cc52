"""The loop's rounds in `/ui`: for each round, the decision with its code and
reason, the relabels by direction (A -> B, how many), the judges before and after
on the validation rows, and the training label distribution against the
reference the loop holds it to, drawn server-side as an inline SVG (no script, so
the page's CSP is untouched). A regression loop shows validation RMSE and MAE per
round and the target's mean against the reference's instead.

The sealed test's figures are not shown here: the loop never decides on them, and
`mendb report` carries them for the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response

from mendb.db import datasets, rounds, ui_runs
from mendb.server.deps import ConnDep
from mendb.server.ui.pages import render
from mendb.server.ui.session import UiReader
from mendb.valuation.task import Task

router = APIRouter()
MAX_CLASSES = 30  # a chart's classes; more is unreadable, the table in psql has them all
BAR_HEIGHT = 9
LABEL_WIDTH = 110
BAR_WIDTH = 260
SERIES = (  # (key in label_distribution, legend, fill)
    ("before", "before", "#9aa5b1"),
    ("after", "after", "#2b6cb0"),
    ("reference", "reference", "#dd6b20"),
)


@dataclass(frozen=True)
class Bar:
    y: int
    width: float
    fill: str
    share: float
    x: int = LABEL_WIDTH
    height: int = BAR_HEIGHT - 1

    @property
    def text_x(self) -> float:
        return self.x + self.width + 4


@dataclass(frozen=True)
class ClassRow:
    name: str
    y: int  # baseline of its name
    bars: tuple[Bar, ...]


# Deliberately like repair/explain.py:Rule: only the shape of a frozen record is shared.
@dataclass(frozen=True)
class ShareChart:
    """A round's class shares as horizontal bars, one group per class."""

    rows: tuple[ClassRow, ...]
    height: int
    width: int
    reference_kind: str
    hidden_classes: int
    legend: tuple[tuple[str, str], ...]


@router.get("/rounds")
def rounds_index(request: Request, conn: ConnDep, _user: UiReader) -> Response:
    return render(
        request, "dataset_index.html", title="Rounds", page="rounds",
        intro="The self-improvement loop's rounds of a dataset:",
        datasets=[d.name for d in datasets.list_all(conn)],
    )


@router.get("/datasets/{name}/rounds")
def rounds_page(
    request: Request,
    name: str,
    conn: ConnDep,
    _user: UiReader,
    loop: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """The rounds of the dataset's newest loop, or of the loop asked for."""
    dataset = datasets.get(conn, name)
    loops = ui_runs.loops_of(conn, name)
    chosen = loops[0]["id"] if loop is None and loops else loop
    if chosen is not None and chosen not in {row["id"] for row in loops}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"dataset {name!r} has no loop {chosen}")
    rows = rounds.of_loop(conn, chosen) if chosen is not None else []
    regression = dataset.task is Task.REGRESSION
    return render(
        request, "rounds.html", title=f"Rounds of {name}", dataset=name, loops=loops,
        loop=chosen, regression=regression,
        rounds=[_shown(row, regression) for row in rows],
    )  # fmt: skip


def _shown(row: dict[str, Any], regression: bool) -> dict[str, Any]:
    distribution = row.get("label_distribution") or {}
    return {
        **row,
        "relabels": [
            {"from": r.get("from"), "to": r.get("to"), "count": r.get("count")}
            for r in row.get("relabels") or []
        ],
        "judges": _judges(row, regression),
        "chart": None if regression else share_chart(distribution),
        "target_means": _target_means(distribution) if regression else [],
    }


def _judges(row: dict[str, Any], regression: bool) -> list[dict[str, Any]]:
    """The validation figures the round was judged on, before and after."""
    names = (
        (("valid_rmse", "validation RMSE"), ("valid_mae", "validation MAE"))
        if regression
        else (("valid_log_loss", "validation log-loss"),
              ("valid_balanced", "validation balanced accuracy"))
    )  # fmt: skip
    return [
        {"name": label, "before": _number(row.get(f"{column}_before")),
         "after": _number(row.get(f"{column}_after"))}
        for column, label in names
    ]  # fmt: skip


def _target_means(distribution: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"name": label, "value": _number(distribution.get(key))}
        for key, label in (
            ("target_mean_before", "before"),
            ("target_mean_after", "after"),
            ("target_mean_reference", f"reference ({distribution.get('reference_kind', '')})"),
        )
        if key in distribution
    ]


def _number(value: Any) -> str:
    return "" if value is None else f"{float(value):.4g}"


def share_chart(distribution: dict[str, Any]) -> ShareChart | None:
    """The bars of a round's label distribution (before, after when judged, and the
    reference), scaled to the largest share shown; None when the round has none."""
    if not distribution.get("before"):
        return None
    series = [(key, fill) for key, _, fill in SERIES if distribution.get(key)]
    classes = sorted(
        distribution["before"],
        key=lambda c: -float(distribution.get("reference", {}).get(c, 0.0)),
    )
    shown = classes[:MAX_CLASSES]
    top = max(
        (float(distribution[key].get(c, 0.0)) for key, _ in series for c in shown), default=0.0
    )
    scale = BAR_WIDTH / top if top > 0 else 0.0
    group = BAR_HEIGHT * len(series) + 8
    rows = []
    for i, name in enumerate(shown):
        top_y = 4 + i * group
        bars = tuple(
            Bar(top_y + j * BAR_HEIGHT, float(distribution[key].get(name, 0.0)) * scale, fill,
                float(distribution[key].get(name, 0.0)))
            for j, (key, fill) in enumerate(series)
        )  # fmt: skip
        rows.append(ClassRow(str(name), top_y + group // 2, bars))
    return ShareChart(
        rows=tuple(rows),
        height=4 + len(shown) * group,
        width=LABEL_WIDTH + BAR_WIDTH + 60,
        reference_kind=str(distribution.get("reference_kind") or ""),
        hidden_classes=len(classes) - len(shown),
        legend=tuple((legend, fill) for key, legend, fill in SERIES if distribution.get(key)),
    )
