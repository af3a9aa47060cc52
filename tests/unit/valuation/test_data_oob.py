"""Data-OOB against a slow, straightforward reference on a tiny problem."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from tests.unit.valuation.games import dataset
from valuation.methods.data_oob import DataOOB


def reference(x, y, n_bags: int, seed: int) -> np.ndarray:
    """One bag at a time, one row at a time, with the documented random draws."""
    n = len(y)
    hits, seen = np.zeros(n), np.zeros(n)
    for k in range(n_bags):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
        bag = rng.integers(0, n, n)
        state = int(rng.integers(2**31))
        if len(set(y[bag])) == 1:
            model = None
        else:
            model = DecisionTreeClassifier(random_state=state).fit(x[bag], y[bag])
        for i in range(n):
            if i in set(bag.tolist()):
                continue
            predicted = y[bag][0] if model is None else model.predict(x[i : i + 1])[0]
            seen[i] += 1
            hits[i] += predicted == y[i]
    return hits / seen


@pytest.mark.parametrize("n_chains,block_size", [(1, 25), (3, 4)])
def test_matches_the_straightforward_reference(n_chains: int, block_size: int) -> None:
    data = dataset(15, seed=1, noise=1.0)
    expected = reference(data.train.x, data.train.y, 60, seed=4)
    result = DataOOB(n_estimators=60, seed=4, n_chains=n_chains,
                     block_size=block_size).fit(data).result
    np.testing.assert_allclose(result.values, expected, atol=1e-12)
    assert result.counts.sum() > 0 and np.all(result.stderr >= 0)


def test_same_seed_same_values_and_noisy_labels_score_low() -> None:
    data = dataset(80, seed=2, noise=0.2)
    flipped = np.arange(10)
    y = data.train.y.copy()
    y[flipped] = 1 - y[flipped]
    noisy = type(data)(type(data.train)(data.train.x, y, data.train.keys), data.valid,
                       data.test, data.classes, data.feature_names)
    first = DataOOB(n_estimators=100, seed=1).fit(noisy).result
    again = DataOOB(n_estimators=100, seed=1).fit(noisy).result
    np.testing.assert_array_equal(first.values, again.values)
    assert first.values[flipped].mean() < first.values[10:].mean() - 0.3
    assert first.method == "data_oob" and first.params["seed"] == 1
