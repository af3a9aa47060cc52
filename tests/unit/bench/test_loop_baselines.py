"""The baselines spend at most the loop's budget, and the relabels are counted
the way the report says."""

from __future__ import annotations

import numpy as np
import pytest

from bench.loop import baselines
from bench.loop.experiment import label_changes
from mendb.server.loop import LoopConfig
from mendb.valuation.data import Split, TrainingArrays


def _arrays(seed: int = 0) -> TrainingArrays:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.0, 3.0]])

    def split(n: int, start: int) -> Split:
        y = np.arange(n) % 2
        x = centres[y] + rng.normal(size=(n, 2))
        return Split(x, y.astype(np.int64), np.array([str(start + i) for i in range(n)], object))

    train = split(120, 0)
    flipped = train.y.copy()
    flipped[:12] = 1 - flipped[:12]
    return TrainingArrays(
        Split(train.x, flipped, train.keys), split(40, 1000), split(40, 2000), ("a", "b"),
        ("u", "v"),
    )  # fmt: skip


@pytest.mark.parametrize("budget", [0, 5, 20])
def test_cleanlab_relabels_at_most_the_budget(budget: int) -> None:
    raw = _arrays()
    repaired, touched = baselines.cleanlab_baseline(raw, budget, seed=0)
    changed = np.flatnonzero(repaired.train.y != raw.train.y)
    assert len(touched) <= budget and set(changed.tolist()) == touched


@pytest.mark.parametrize("budget", [0, 6])
def test_expert_baselines_touch_at_most_the_budget(budget: int) -> None:
    raw = _arrays()
    config = LoopConfig()
    for method in ("random", "activeclean"):
        repaired, touched = baselines.run_baseline(method, raw, budget, 2, 0, config)
        assert len(touched) <= budget
        rows_changed = (repaired.train.y != raw.train.y) | ~np.isclose(
            repaired.train.x, raw.train.x, equal_nan=True
        ).all(axis=1)
        assert set(np.flatnonzero(rows_changed).tolist()) <= touched


def test_gradient_norms_by_hand() -> None:
    proba = np.array([[0.8, 0.2], [0.3, 0.7]])
    y = np.array([0, 0])
    x = np.array([[1.0, 2.0], [0.0, 0.0]])
    # row 0: |(-0.2, 0.2)| * sqrt(1 + 5); row 1: |(-0.7, 0.7)| * 1
    expected = [np.sqrt(0.08) * np.sqrt(6.0), np.sqrt(0.98)]
    np.testing.assert_allclose(baselines.gradient_norms(proba, y, x), expected)


def test_label_changes_counts_right_wrong_and_left() -> None:
    clean = np.array([1, 1, 1, 0, 0, 0])
    noisy = np.array([0, 0, 1, 0, 0, 0])  # rows 0 and 1 under-reported
    after = np.array([1, 0, 0, 0, 1, 0])  # row 0 mended, row 2 and 4 broken
    assert label_changes(clean, noisy, after, majority=0) == {
        "right": 1, "wrong": 2, "wrong_into_majority": 1, "flips_left": 1,
    }  # fmt: skip
