"""A finished valuation read back: its scores aligned to the rows just read, and the
value below which its rows hurt."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg

from mendb.db import runs
from mendb.db.errors import NoScores
from mendb.db.scores import read_scores
from mendb.valuation.data import TrainingArrays
from mendb.valuation.methods import METHODS
from mendb.valuation.result import ValuationResult


def latest_values(
    conn: psycopg.Connection[Any], name: str, data: TrainingArrays, method: str | None = None
) -> tuple[int, ValuationResult]:
    """The latest finished valuation, aligned to the training rows just read; rows
    valued since removed are dropped, rows added since get no value (0)."""
    run = latest_value_run(conn, name, method)
    return int(run["id"]), values_of_run(conn, run, data)


def latest_value_run(
    conn: psycopg.Connection[Any], name: str, method: str | None = None
) -> dict[str, Any]:
    run = runs.latest_value_run(conn, name, method)
    if run is None:
        which = f"with method {method!r} " if method else ""
        raise NoScores(f"dataset {name!r} has no finished valuation {which}yet; run `mendb value`")
    return run


def values_of_run(
    conn: psycopg.Connection[Any], run: dict[str, Any], data: TrainingArrays
) -> ValuationResult:
    """One run's scores aligned to the training rows just read; a row the run did
    not value sits at the harm threshold, neither harmful nor trusted."""
    keys, values = read_scores(conn, run["id"])
    harmful_below = harm_threshold(run)
    position = {key: i for i, key in enumerate(keys)}
    neutral = harmful_below or 0.0
    aligned = np.array(
        [values[position[k]] if k in position else neutral for k in data.train.keys],
        dtype=np.float64,
    )
    return ValuationResult.exact(
        data.train.keys, aligned, run["method"], run["params"], harmful_below=harmful_below
    )


def harm_threshold(run: dict[str, Any]) -> float | None:
    """The value below which a row of this run hurts: as the run recorded it, else
    as its method declares (runs written before the threshold was recorded)."""
    recorded = run.get("diagnostics") or {}
    if "harmful_below" in recorded:
        value = recorded["harmful_below"]
        return None if value is None else float(value)
    method = run["method"]
    return METHODS[method].harmful_below if method in METHODS else 0.0


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


