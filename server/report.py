"""`mendb report`: one self-contained HTML page (figures embedded as PNG) on what
mendb found and did for a dataset.

- value distribution per method (the latest run of each);
- point-removal curves, the standard evaluation of data values: test accuracy as
  the lowest-valued rows are removed, against removing the highest-valued ones;
- utility per round of the latest loop (validation RMSE and MAE for a numeric
  target);
- repairs by kind and status.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mendb.db import rounds, runs
from mendb.db.report import methods_with_values, repair_counts
from mendb.server import operations
from mendb.server.context import Mendb
from mendb.valuation.data import Split, Task, TrainingArrays
from mendb.valuation.evaluate import accuracy
from mendb.valuation.judge_regression import measure_errors
from mendb.valuation.target_scale import value_scale

REMOVAL_STEPS = np.linspace(0.0, 0.5, 11)


@dataclass(frozen=True)
class Report:
    dataset: str
    figures: dict[str, Figure]
    tables: dict[str, list[dict[str, Any]]]


def build_report(app: Mendb, name: str, seed: int = 0) -> Report:
    with app.connection() as conn:
        _, data, _ = operations.load(conn, name)
        methods = methods_with_values(conn, name)
        values = {m: operations.latest_values(conn, name, data, m)[1].values for m in methods}
        loop = rounds.latest_loop(conn, name)
        loop_rounds = rounds.of_loop(conn, loop["id"]) if loop else []
        repairs = repair_counts(conn, name)
        explanation = []
        if methods:
            run = runs.latest_value_run(conn, name)
            explanation = (run or {}).get("diagnostics", {}).get("explanation", [])
    figures = {
        "values": _value_distribution(values),
        "point_removal": _point_removal(data, values, seed),
        "rounds": _rounds_figure(loop_rounds),
        "label_distribution": _labels_figure(loop_rounds),
        "repairs": _repairs_figure(repairs),
    }
    tables = {
        "rounds": [
            {
                k: r.get(k)
                for k in (
                    "round",
                    "method",
                    "proposals",
                    "accepted",
                    "applied",
                    "valid_log_loss_before",
                    "valid_log_loss_after",
                    "valid_balanced_before",
                    "valid_balanced_after",
                    "valid_rmse_before",
                    "valid_rmse_after",
                    "valid_mae_before",
                    "valid_mae_after",
                    "relabels",
                    "decision",
                    "reason",
                )
            }
            for r in loop_rounds
        ],
        "repairs": [{"kind": k, "status": s, "count": c} for k, s, c in repairs],
        "explanation": [{"rule": r["sentence"]} for r in explanation],
    }
    return Report(name, figures, tables)


def removal_curve(
    data: TrainingArrays, values: np.ndarray[Any, Any], lowest_first: bool, seed: int = 0
) -> list[float]:
    """Test accuracy (a numeric target: test RMSE) after removing the lowest- (or
    highest-) valued share of rows."""
    order = np.argsort(values if lowest_first else -values, kind="stable")
    scale = value_scale(data)  # the ridge learns the target as the loop's judge does
    scores = []
    for share in REMOVAL_STEPS:
        keep = np.sort(order[int(share * len(order) + 0.5) :])
        train = Split(data.train.x[keep], data.train.y[keep], data.train.keys[keep])
        if data.task is Task.REGRESSION:
            scores.append(measure_errors(train, data.test, seed, scale=scale).scores().rmse)
        else:
            scores.append(accuracy(train, data.test, seed))
    return scores


def _value_distribution(values: dict[str, np.ndarray[Any, Any]]) -> Figure:
    figure, axes = plt.subplots(figsize=(7, 3.5))
    for method, v in values.items():
        axes.hist(v, bins=40, alpha=0.5, label=method)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set(title="Value of each training row", xlabel="value", ylabel="rows")
    if values:
        axes.legend()
    return figure


def _point_removal(
    data: TrainingArrays, values: dict[str, np.ndarray[Any, Any]], seed: int
) -> Figure:
    figure, axes = plt.subplots(figsize=(7, 3.5))
    for method, v in values.items():
        low = removal_curve(data, v, lowest_first=True, seed=seed)
        high = removal_curve(data, v, lowest_first=False, seed=seed)
        (line,) = axes.plot(REMOVAL_STEPS * 100, low, marker="o", label=f"{method}: lowest first")
        axes.plot(
            REMOVAL_STEPS * 100,
            high,
            linestyle="--",
            color=line.get_color(),
            label=f"{method}: highest first",
        )
    metric = "test RMSE" if data.task is Task.REGRESSION else "test accuracy"
    axes.set(title="Point removal", xlabel="% of training rows removed", ylabel=metric)
    if values:
        axes.legend(fontsize="small")
    return figure


# Each judge's panel: its columns' infix, the panel's title and its axis label.
_CLASS_JUDGES = (
    ("log_loss", "Log-loss per round (latest loop)", "log-loss"),
    ("balanced", "Balanced accuracy per round", "balanced accuracy"),
)
_ERROR_JUDGES = (
    ("rmse", "Validation RMSE per round (latest loop)", "RMSE"),
    ("mae", "MAE per round", "MAE"),
)


def _rounds_figure(loop_rounds: list[dict[str, Any]]) -> Figure:
    """The judges per round, on the validation rows (the sealed test beside them,
    for the record): log-loss and balanced accuracy, or a numeric target's RMSE and
    MAE."""
    numeric = any(r.get("valid_rmse_before") is not None for r in loop_rounds)
    judges = _ERROR_JUDGES if numeric else _CLASS_JUDGES
    figure, panels = plt.subplots(1, 2, figsize=(9, 3.5))
    measured = [r for r in loop_rounds if r.get(f"valid_{judges[0][0]}_before") is not None]
    numbers = [r["round"] for r in measured]
    for axes, (name, title, ylabel) in zip(panels, judges, strict=True):
        axes.set(title=title, xlabel="round", ylabel=ylabel)
        for column, label in (
            (f"valid_{name}_before", "validation, before"),
            (f"valid_{name}_after", "validation, after"),
            (f"test_{name}_after", "sealed test, after (reported only)"),
        ) if measured else ():
            axes.plot(numbers, [r.get(column) for r in measured], marker="o", label=label)
    if measured:
        panels[1].legend(fontsize="small")
    figure.tight_layout()
    return figure


def _labels_figure(loop_rounds: list[dict[str, Any]]) -> Figure:
    """The training rows' class shares after each round against the reference the
    loop holds them to (the validation table's, or the estimated clean prior)."""
    figure, axes = plt.subplots(figsize=(7, 3.5))
    shares = [r.get("label_distribution") or {} for r in loop_rounds]
    shares = [d for d in shares if d.get("before")]
    if shares:
        classes = list(shares[0]["before"])
        steps = [shares[0]["before"]] + [d.get("after") or d["before"] for d in shares]
        for c in classes:
            (line,) = axes.plot(range(len(steps)), [s.get(c, 0.0) for s in steps], marker="o",
                                label=f"{c}")  # fmt: skip
            axes.axhline(shares[0]["reference"].get(c, 0.0), color=line.get_color(),
                         linestyle="--", linewidth=0.8)  # fmt: skip
        axes.legend(fontsize="small", title="class (dashed: reference)")
    axes.set(title="Training label distribution per round", xlabel="after round",
             ylabel="share of training rows")  # fmt: skip
    return figure


def _repairs_figure(repairs: list[tuple[str, str, int]]) -> Figure:
    figure, axes = plt.subplots(figsize=(7, 3.5))
    kinds = sorted({k for k, _, _ in repairs})
    statuses = sorted({s for _, s, _ in repairs})
    bottom = np.zeros(len(kinds))
    for status in statuses:
        counts = np.array(
            [sum(c for k, s, c in repairs if k == kind and s == status) for kind in kinds],
            dtype=float,
        )
        axes.bar(kinds, counts, bottom=bottom, label=status)
        bottom += counts
    axes.set(title="Repairs by kind and status", ylabel="repairs")
    if statuses:
        axes.legend()
    return figure


def write_html(report: Report, path: Path) -> None:
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>mendb report: "
        f"{html.escape(report.dataset)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style>",
        f"<h1>mendb report: {html.escape(report.dataset)}</h1>",
    ]
    for title, key in (
        ("Which rows hurt", "explanation"),
        ("Rounds", "rounds"),
        ("Repairs", "repairs"),
    ):
        parts.append(f"<h2>{title}</h2>{_table(report.tables[key])}")
    for name, figure in report.figures.items():
        encoded = base64.b64encode(_png(figure)).decode()
        parts.append(
            f"<h2>{html.escape(name.replace('_', ' '))}</h2>"
            f"<img alt='{name}' src='data:image/png;base64,{encoded}'>"
        )
    path.write_text("\n".join(parts))


def write_pngs(report: Report, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in report.figures.items():
        target = directory / f"{name}.png"
        target.write_bytes(_png(figure))
        written.append(target)
    return written


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>none yet</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
