"""Transferred Shapley: exact on a game small enough to be one subset, and the
bookkeeping of subsets, chains and rows never sampled."""

from __future__ import annotations

import numpy as np

from mendb.valuation.methods.ts_shapley import SubsetSampler, TSShapley, pca, project
from mendb.valuation.utility import class_weights
from tests.unit.valuation.exact import exact_shapley
from tests.unit.valuation.games import dataset


def ridge_game(data, lam: float, weights=None):
    """u(S): accuracy (each validation row weighted by `weights`, 1 when None) of the
    closed-form ridge classifier on the PCA coordinates."""
    mean, axes = pca(data.train.x, data.train.x.shape[1])
    z = np.hstack([project(data.train.x, mean, axes), np.ones((len(data.train), 1))])
    zv = np.hstack([project(data.valid.x, mean, axes), np.ones((len(data.valid), 1))])
    y, yv = data.train.y, data.valid.y
    majority = np.argmax(np.bincount(y, minlength=2))
    w = np.ones(len(yv)) if weights is None else weights

    def u(subset: tuple[int, ...]) -> float:
        if not subset:
            return float(np.mean(w * (yv == majority)))
        zs, onehot = z[list(subset)], np.eye(2)[y[list(subset)]]
        coef = np.linalg.solve(zs.T @ zs + lam * np.eye(z.shape[1]), zs.T @ onehot)
        return float(np.mean(w * (np.argmax(zv @ coef, axis=1) == yv)))

    return u


def test_one_subset_converges_to_exact_shapley_of_the_ridge_game() -> None:
    data = dataset(7, seed=3, n_valid=30)
    expected = exact_shapley(7, ridge_game(data, lam=0.5))
    method = TSShapley(
        n_components=2, subset_size=7, permutations=1000, n_chains=4, ridge=0.5, seed=0
    )
    result = method.fit(data).result
    np.testing.assert_allclose(result.values, expected, atol=0.01)
    assert result.counts.tolist() == [4000] * 7
    assert result.diagnostics["gelman_rubin_max"] < 1.05


def test_every_row_is_in_one_subset_per_chain() -> None:
    sampler = SubsetSampler(subset_size=7, permutations=1, n_chains=3)
    n = 50
    assert sampler.size(n) == 3 * 8
    for chain in range(3):
        rows = [sampler.subset(11, k, n) for k in range(chain, sampler.size(n), 3)]
        assert sorted(np.concatenate(rows).tolist()) == list(range(n))
        assert {len(r) for r in rows} <= {6, 7}


def test_rows_never_sampled_get_a_neighbour_estimate() -> None:
    data = dataset(300, seed=4)
    result = (
        TSShapley(subset_size=20, n_chains=1, max_samples=5, block_size=2, seed=1).fit(data).result
    )
    unsampled = result.counts == 0
    assert unsampled.sum() == 300 - 100
    assert result.diagnostics["never_sampled"] == 200
    assert np.all(np.isfinite(result.values)) and np.all(np.isinf(result.stderr[unsampled]))


def test_same_seed_same_values_whatever_the_block_size() -> None:
    data = dataset(200, seed=5)
    a = TSShapley(subset_size=30, seed=2, block_size=1).fit(data).result
    b = TSShapley(subset_size=30, seed=2, block_size=5).fit(data).result
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    assert a.method == "ts_shapley" and a.params["seed"] == 2 and a.seed == 2


def test_balanced_utility_converges_to_exact_shapley_of_the_balanced_ridge_game() -> None:
    data = dataset(7, seed=5, n_valid=30)  # 10 of the 30 validation rows positive
    weights = class_weights(data.valid.y)
    assert not np.allclose(weights, 1.0)
    expected = exact_shapley(7, ridge_game(data, lam=0.5, weights=weights))
    method = TSShapley(
        n_components=2,
        subset_size=7,
        permutations=1000,
        n_chains=4,
        ridge=0.5,
        seed=0,
        utility="balanced_accuracy",
    )
    result = method.fit(data).result
    np.testing.assert_allclose(result.values, expected, atol=0.01)
    assert result.params["utility"] == "balanced_accuracy"
    assert not np.allclose(expected, exact_shapley(7, ridge_game(data, lam=0.5)), atol=0.01)
