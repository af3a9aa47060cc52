"""Subsampling keeps each class's share and is seeded."""

from __future__ import annotations

import numpy as np

from bench.loop.tables import stratified_subsample


def test_stratified_subsample_keeps_shares_and_is_seeded() -> None:
    labels = np.array(["a"] * 900 + ["b"] * 100)
    rows = stratified_subsample(labels, 200, seed=0)
    assert len(rows) == 200 and len(set(rows.tolist())) == 200
    assert (labels[rows] == "b").sum() == 20
    np.testing.assert_array_equal(rows, stratified_subsample(labels, 200, seed=0))
    assert not np.array_equal(rows, stratified_subsample(labels, 200, seed=1))


def test_small_tables_are_kept_whole() -> None:
    labels = np.array(["a", "b", "a"])
    np.testing.assert_array_equal(stratified_subsample(labels, 10, seed=0), [0, 1, 2])
