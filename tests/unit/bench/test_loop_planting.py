"""The noise lands where it says, at the rate it says, and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

from bench.loop import planting


def _labels(counts: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts).astype(np.int64)


def test_under_reporting_moves_only_minority_to_majority_at_the_rate() -> None:
    y = _labels([600, 100, 300])  # majority 0, minority 1
    eligible = np.ones(len(y), dtype=bool)
    eligible[:50] = False
    out = planting.under_report(y, eligible, 1, 0, 0.4, np.random.default_rng(0))
    changed = out != y
    assert changed.sum() == 40
    assert (y[changed] == 1).all() and (out[changed] == 0).all()
    assert (out[y != 1] == y[y != 1]).all()


def test_symmetric_flips_the_share_of_eligible_rows_to_another_class() -> None:
    y = _labels([50, 50, 50])
    eligible = np.arange(len(y)) % 3 != 0  # 100 eligible rows
    out = planting.symmetric(y, eligible, 3, 0.1, np.random.default_rng(1))
    changed = out != y
    assert changed.sum() == 10
    assert not changed[~eligible].any()
    assert set(out[changed].tolist()) <= {0, 1, 2}


def test_pairwise_swaps_within_each_pair_both_ways() -> None:
    y = _labels([100, 100, 100, 100])
    out = planting.pairwise(
        y, np.ones(len(y), dtype=bool), ((0, 3),), 0.2, np.random.default_rng(2)
    )
    changed = out != y
    assert ((y == 0) & changed).sum() == 20 and ((y == 3) & changed).sum() == 20
    assert (out[(y == 0) & changed] == 3).all() and (out[(y == 3) & changed] == 0).all()
    assert not changed[(y == 1) | (y == 2)].any()


def test_instance_flips_fall_near_the_boundary_to_the_next_likeliest_class() -> None:
    n = 1000
    y = np.zeros(n, dtype=np.int64)
    proba = np.zeros((n, 3))
    proba[:, 0] = 0.99
    proba[:, 2] = 0.01
    near = np.arange(100)  # rows the clean model barely places in their class
    proba[near] = [0.5, 0.1, 0.4]
    out = planting.instance(y, np.ones(n, dtype=bool), proba, 0.1, np.random.default_rng(3))
    changed = np.flatnonzero(out != y)
    assert len(changed) == 100
    # a tenth of the rows, but most of the flips (uniform draws would put a tenth there)
    assert np.isin(changed, near).mean() > 0.5
    assert (out[changed][np.isin(changed, near)] == 2).all()


def test_boundary_weights() -> None:
    proba = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    y = np.array([0, 1, 0])
    np.testing.assert_allclose(planting.boundary_weights(y, proba), [0.1, 0.5, 0.8])


def test_most_confused_pair() -> None:
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.9, 0.05, 0.05], [0.1, 0.5, 0.4], [0.0, 0.3, 0.7], [0.1, 0.4, 0.5]])
    # mass 1 <-> 2: 0.4 + 0.3 + 0.4 = 1.1; 0 <-> 1: 0.05 + 0.1 + 0.0; 0 <-> 2: 0.05 + 0.1
    assert planting.most_confused_pair(y, proba) == (1, 2)


def test_plant_reports_the_flipped_rows_and_refuses_unknown_noise() -> None:
    y = _labels([80, 20])
    context = planting.NoiseContext(2, 1, 0, ((0, 1),), np.full((100, 2), 0.5))
    planted = planting.plant("under_report", y, np.ones(100, bool), context,
                             np.random.default_rng(0))  # fmt: skip
    assert planted.flipped.sum() == 8
    np.testing.assert_array_equal(planted.flipped, planted.labels != y)
    with pytest.raises(ValueError, match="unknown noise"):
        planting.plant("typos", y, np.ones(100, bool), context, np.random.default_rng(0))
