"""The regression benchmark's figures: AUROC on the planted rows, the recovered
share of the RMSE gap, and the detection path through the valuation registry
(with a tiny stand-in method, so the path is checked whatever methods exist)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from bench.regression import stats
from bench.regression.detection import MENDB, mendb_rows
from bench.regression.loop import target_changes
from mendb.valuation.data import Split, Task, TrainingArrays


def test_auroc_counts_the_planted_rows_at_the_bottom() -> None:
    planted = np.array([True, True, False, False, False])
    perfect = stats.detection(np.array([-5.0, -4.0, 1.0, 2.0, 3.0]), planted)
    assert perfect["auroc"] == 1.0 and perfect["ap"] == 1.0 and perfect["p_at_k"] == 1.0
    reversed_ = stats.detection(np.array([5.0, 4.0, 1.0, 2.0, 3.0]), planted)
    assert reversed_["auroc"] == 0.0
    # one planted row below all, one above one clean row: 5 of 6 pairs in order
    mixed = stats.detection(np.array([-5.0, 1.5, 1.0, 2.0, 3.0]), planted)
    assert mixed["auroc"] == pytest.approx(5 / 6)


def test_a_row_left_unvalued_counts_as_least_suspicious() -> None:
    planted = np.array([True, False, False])
    assert stats.detection(np.array([np.nan, 0.0, 1.0]), planted)["auroc"] == 0.0


def test_auroc_without_planted_rows_is_nan() -> None:
    assert math.isnan(stats.detection(np.zeros(3), np.zeros(3, dtype=bool))["auroc"])


def test_recovered_share_of_the_rmse_gap() -> None:
    assert stats.recovered_share(final=10.0, clean=10.0, noisy=20.0) == 1.0
    assert stats.recovered_share(final=20.0, clean=10.0, noisy=20.0) == 0.0
    assert stats.recovered_share(final=12.0, clean=10.0, noisy=20.0) == pytest.approx(0.8)
    assert stats.recovered_share(final=25.0, clean=10.0, noisy=20.0) == pytest.approx(-0.5)
    # no gap to win back: the noise raised the RMSE by less than the minimum share
    assert math.isnan(stats.recovered_share(final=9.0, clean=10.0, noisy=10.05))


def test_share_of_the_mean_gap_over_seeds() -> None:
    rows = np.array([[12.0, 10.0, 20.0], [14.0, 10.0, 20.0]])
    assert stats.share_of_mean_gap(rows) == pytest.approx(0.7)
    assert stats.mean_of_shares([rows, np.array([[10.0, 10.0, 10.0]])]) == pytest.approx(0.7)


def test_target_changes_count_planted_rows_put_right() -> None:
    clean = np.array([1.0, 2.0, 3.0, 4.0])
    noisy = np.array([10.0, 2.0, 30.0, 4.0])
    after = np.array([1.0, 2.5, 30.0, 4.0])
    changes = target_changes(clean, noisy, after)
    assert changes["changed"] == 2 and changes["changed_planted"] == 1
    assert changes["planted_left"] == 1


def _regression_arrays() -> TrainingArrays:
    rng = np.random.default_rng(0)

    def split(n: int, start: int) -> Split:
        x = rng.normal(size=(n, 2))
        keys = np.array([str(start + i) for i in range(n)], dtype=object)
        return Split(x, 3.0 * x[:, 0] + rng.normal(scale=0.1, size=n), keys)

    return TrainingArrays(split(30, 0), split(10, 100), split(10, 200), (), ("a", "b"),
                          task=Task.REGRESSION)  # fmt: skip


class _StandIn:
    """Values a row by minus its absolute residual from the true line: a perfect
    detector of the rows whose target was moved."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    def fit(self, data: TrainingArrays) -> _StandIn:
        assert data.task is Task.REGRESSION
        values = -np.abs(data.train.y - 3.0 * data.train.x[:, 0])
        self.result = type("Result", (), {"values": values})()
        return self


def test_mendb_methods_are_called_through_the_registry_on_regression_arrays() -> None:
    data = _regression_arrays()
    y = data.train.y.copy()
    y[:3] *= 10.0
    y[:3] += 50.0
    noisy = TrainingArrays(Split(data.train.x, y, data.train.keys), data.valid, data.test, (),
                           data.feature_names, task=Task.REGRESSION)  # fmt: skip
    planted = np.zeros(len(y), dtype=bool)
    planted[:3] = True
    called: list[tuple[str, dict[str, Any]]] = []

    def make(method: str, **params: Any) -> _StandIn:
        called.append((method, params))
        return _StandIn(**params)

    rows = mendb_rows(noisy, planted, make, seed=7)
    assert [c[0] for c in called] == [m for m, _ in MENDB.values()]
    # Data-OOB draws its bags from the cell's seed; the exact KNN-Shapley draws nothing.
    assert all(p.get("seed") == (7 if m == "data_oob" else None) for m, p in called)
    assert all(rows[name]["ok"] and rows[name]["auroc"] == 1.0 for name in MENDB)


def test_a_method_that_refuses_is_a_row_not_a_crash() -> None:
    def make(method: str, **params: Any) -> Any:
        raise ValueError(f"{method} does not value a regression target")

    rows = mendb_rows(_regression_arrays(), np.zeros(30, dtype=bool), make)
    assert all(not row["ok"] and "does not value" in row["error"] for row in rows.values())
