"""Target noise is planted in the eligible (training) rows only, at the stated rate,
the same rows for the same seed, and every planted row is recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.regression import planting
from bench.regression.tables import Table, arrays, encode, split_rows
from mendb.valuation.data import Task


def _target(n: int = 400) -> np.ndarray:
    return np.random.default_rng(5).uniform(10.0, 500.0, size=n).round(2)


@pytest.mark.parametrize("noise", planting.NOISES)
def test_planting_is_seeded_and_only_in_training_rows(noise: str) -> None:
    y = _target()
    train, valid, test = split_rows(len(y), seed=3)
    first = planting.plant(noise, y, train, np.random.default_rng(planting.seed_for(noise, 0)))
    again = planting.plant(noise, y, train, np.random.default_rng(planting.seed_for(noise, 0)))
    other = planting.plant(noise, y, train, np.random.default_rng(planting.seed_for(noise, 1)))
    assert np.array_equal(first.y, again.y) and np.array_equal(first.rows, again.rows)
    assert not np.array_equal(first.rows, other.rows)
    changed = np.flatnonzero(first.y != y)
    assert np.array_equal(changed, first.rows)  # every planted row recorded, no other
    assert set(changed) <= set(train.tolist())
    assert np.array_equal(first.y[np.concatenate([valid, test])], y[np.concatenate([valid, test])])
    assert abs(len(first.rows) - planting.RATE * len(train)) <= 1


def test_each_noise_does_what_it_says() -> None:
    y = _target()
    rows = np.arange(len(y))
    slipped = planting.plant("slipped_zero", y, rows, np.random.default_rng(0))
    assert np.allclose(slipped.y[slipped.rows], 10.0 * y[slipped.rows])
    swapped = planting.plant("swap", y, rows, np.random.default_rng(0))
    assert set(swapped.y[swapped.rows].tolist()) <= set(y.tolist())
    heavy = planting.plant("heavy_tail", y, rows, np.random.default_rng(0))
    assert len(heavy.rows) == round(planting.RATE * len(y))


def test_a_zero_is_never_counted_as_slipped() -> None:
    y = np.zeros(50)
    y[:10] = 7.0
    planted = planting.plant("slipped_zero", y, np.arange(50), np.random.default_rng(0))
    assert set(planted.rows.tolist()) <= set(range(10))


def test_unknown_noise_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown noise"):
        planting.plant("flip", np.ones(4), np.arange(4), np.random.default_rng(0))


def test_text_columns_become_codes_of_a_regression_dataset() -> None:
    frame = pd.DataFrame({"carat": [0.2, 0.3, np.nan, 1.0],
                          "cut": ["Ideal", "Good", None, "Ideal"]})  # fmt: skip
    encoded = encode(frame)
    assert encoded.kinds == ("numeric", "categorical")
    assert encoded.categories == {"cut": ("Good", "Ideal")}
    assert np.array_equal(encoded.x[:, 1], [2.0, 1.0, np.nan, 2.0], equal_nan=True)
    y = np.array([1.0, 2.0, 3.0, 4.0])
    data = arrays(Table("t", frame, y), y, (np.array([0, 1]), np.array([2]), np.array([3])))
    assert data.task is Task.REGRESSION and data.classes == ()
    assert data.train.y.dtype == np.float64 and list(data.train.keys) == ["0", "1"]
