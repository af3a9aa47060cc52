"""Repair of a numeric target end to end on the real database: sklearn's diabetes
table registered as regression, a slipped zero planted in one training target,
valued, proposed; the audit table holds the exact restoration, its evidence and a
verification by validation squared error with the user's model."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from sklearn.datasets import load_diabetes

from mendb.db import datasets
from mendb.db.read import read_dataset
from mendb.server import operations
from mendb.server.context import Mendb
from mendb.valuation.data import Task

FEATURES = [f"f{j}" for j in range(10)]


def make_diabetes(conn: psycopg.Connection[Any]) -> dict[int, float]:
    """The table `diabetes` (id, f0..f9, progression float8); its targets by id."""
    x, y = load_diabetes(return_X_y=True)
    columns = sql.SQL(", ").join(sql.SQL("{} float8").format(sql.Identifier(f)) for f in FEATURES)
    conn.execute(
        sql.SQL("CREATE TABLE diabetes (id integer PRIMARY KEY, {}, progression float8)").format(
            columns
        )
    )
    with conn.cursor() as cur, cur.copy("COPY diabetes FROM STDIN") as copy:
        for i in range(len(y)):
            copy.write_row([i, *map(float, x[i]), float(y[i])])
    return {i: float(v) for i, v in enumerate(y)}


def test_a_slipped_zero_in_a_target_is_proposed_back_exactly(app: Mendb, conn: Any) -> None:
    truth = make_diabetes(conn)
    dataset = datasets.register(
        conn, "diab", "public.diabetes", "id", "progression", task=Task.REGRESSION
    )
    assert dataset.task == Task.REGRESSION
    train_keys = read_dataset(conn, dataset).arrays.train.keys
    # A training row with a mid-range target, times ten.
    slipped = next(int(k) for k in train_keys if 90 <= truth[int(k)] <= 160)
    conn.execute("UPDATE diabetes SET progression = progression * 10 WHERE id = %s", (slipped,))
    conn.commit()
    with app.connection() as own:
        valued = operations.value_run(own, app.settings, "diab", "knn_shapley")
        ids = operations.propose(
            own, app.settings, "diab", max_rows=40, model="sklearn.linear_model:LinearRegression"
        ).ids
    assert ids
    assert valued.diagnostics["target_scale"] == "y"  # a score within a decade
    rows = conn.execute(
        "SELECT row_key, column_name, kind, old_value, new_value, repairer, confidence,"
        " evidence, verification FROM mendb.repairs WHERE dataset = 'diab'"
    ).fetchall()
    found = {row[0]: row for row in rows if row[1] == "progression"}
    _, _, kind, old, new, repairer, confidence, evidence, verification = found[str(slipped)]
    assert kind == "label" and repairer == "target_neighbours_model"
    assert float(old) == truth[slipped] * 10
    assert float(new) == truth[slipped]  # restored exactly
    assert confidence >= 0.9
    assert evidence["task"] == "regression" and evidence["decimal_shift"] == "x10^-1"
    assert evidence["residual"] > 5 and evidence["calibration"].endswith("validation rows")
    assert verification["verdict"] == "improves"
    assert verification["model"] == "sklearn.linear_model:LinearRegression"
    # No proposal relabels a number to a neighbour's "class": each is the target's.
    assert all(row[5] == "target_neighbours_model" for row in found.values())
    assert all(np.isfinite(float(row[4])) for row in found.values())


def test_a_price_over_decades_is_valued_and_assessed_on_asinh(app: Mendb, conn: Any) -> None:
    """Log-normal prices: the run says the scale it valued on, a slip on a cheap
    row is proposed back with the scale in its evidence, and values stay prices."""
    rng = np.random.default_rng(3)
    n = 600
    x = rng.normal(size=(n, 2))
    price = np.exp(6.5 + x @ np.array([1.0, 0.5]) + rng.normal(0.0, 0.1, n))
    conn.execute("CREATE TABLE prices (id integer PRIMARY KEY, a float8, b float8, price float8)")
    with conn.cursor() as cur, cur.copy("COPY prices FROM STDIN") as copy:
        for i in range(n):
            copy.write_row([i, float(x[i, 0]), float(x[i, 1]), float(price[i])])
    dataset = datasets.register(conn, "prices", "public.prices", "id", "price")
    train_keys = [int(k) for k in read_dataset(conn, dataset).arrays.train.keys]
    cheap = np.percentile(price[train_keys], 20)
    slipped = min(train_keys, key=lambda k: abs(price[k] - cheap))
    conn.execute("UPDATE prices SET price = price * 10 WHERE id = %s", (slipped,))
    conn.commit()
    with app.connection() as own:
        valued = operations.value_run(
            own, app.settings, "prices", "data_oob", {"model": "linear", "n_estimators": 20}
        )
        operations.propose(own, app.settings, "prices", max_rows=30)
    assert valued.diagnostics["target_scale"].startswith("asinh(y / ")
    stored = conn.execute(
        "SELECT diagnostics->>'target_scale' FROM mendb.runs WHERE id = %s", (valued.run_id,)
    ).fetchone()
    assert stored == (valued.diagnostics["target_scale"],)
    old, new, evidence = conn.execute(
        "SELECT old_value, new_value, evidence FROM mendb.repairs"
        " WHERE dataset = 'prices' AND row_key = %s",
        (str(slipped),),
    ).fetchone()
    assert float(old) == pytest.approx(price[slipped] * 10, rel=1e-11)
    assert float(new) == pytest.approx(price[slipped], rel=1e-11)
    assert evidence["reference"] > 0 and evidence["model_estimate"] > 10
