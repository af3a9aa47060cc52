"""Exact KNN-Shapley against subset enumeration and a straightforward loop."""

from __future__ import annotations

import numpy as np
import pytest

from mendb.valuation import Split, TrainingArrays
from mendb.valuation.methods import make_valuation
from mendb.valuation.methods.knn_shapley import knn_shapley
from mendb.valuation.utility import class_weights
from tests.unit.valuation.exact import exact_shapley


def knn_utility(x_train, y_train, x_valid, y_valid, k, weights=None):
    """Mean over validation rows of the K-nearest neighbours' share of its label,
    each validation row weighted by `weights` (1 when None)."""
    weights = np.ones(len(y_valid)) if weights is None else weights

    def u(subset: tuple[int, ...]) -> float:
        if not subset:
            return 0.0
        idx = np.array(subset)
        total = 0.0
        for xv, yv, w in zip(x_valid, y_valid, weights, strict=True):
            dist = ((x_train[idx] - xv) ** 2).sum(axis=1)
            nearest = idx[np.argsort(dist, kind="stable")[:k]]
            total += w * (y_train[nearest] == yv).sum() / k
        return total / len(x_valid)

    return u


def recursion_loop(x_train, y_train, x_valid, y_valid, k):
    """Jia et al.'s Theorem 1 written one validation point and one row at a time."""
    n = len(x_train)
    values = np.zeros(n)
    for xv, yv in zip(x_valid, y_valid, strict=True):
        order = np.argsort(((x_train - xv) ** 2).sum(axis=1), kind="stable")
        s = np.zeros(n)
        s[order[-1]] = float(y_train[order[-1]] == yv) / max(n, k)
        for i in range(n - 2, -1, -1):
            here, nxt = order[i], order[i + 1]
            s[here] = s[nxt] + (float(y_train[here] == yv) - float(y_train[nxt] == yv)) / k * min(
                k, i + 1
            ) / (i + 1)
        values += s
    return values / len(x_valid)


@pytest.mark.parametrize("n,k", [(1, 1), (3, 1), (5, 2), (6, 3), (8, 3), (8, 10)])
def test_equals_enumeration_of_all_subsets(n: int, k: int) -> None:
    rng = np.random.default_rng(n * 10 + k)
    x, y = rng.normal(size=(n, 2)), rng.integers(0, 2, n)
    xv, yv = rng.normal(size=(4, 2)), rng.integers(0, 2, 4)
    expected = exact_shapley(n, knn_utility(x, y, xv, yv, k))
    np.testing.assert_allclose(knn_shapley(x, y, xv, yv, k), expected, atol=1e-12)


def test_equals_straightforward_loop_on_random_data() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(300, 5)), rng.integers(0, 3, 300)
    xv, yv = rng.normal(size=(40, 5)), rng.integers(0, 3, 40)
    expected = recursion_loop(x, y, xv, yv, 5)
    np.testing.assert_allclose(knn_shapley(x, y, xv, yv, 5), expected, atol=1e-12)


def test_batches_give_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(50, 3)), rng.integers(0, 2, 50)
    xv, yv = rng.normal(size=(30, 3)), rng.integers(0, 2, 30)
    whole = knn_shapley(x, y, xv, yv, 3)
    monkeypatch.setattr("mendb.valuation.methods.knn_shapley._WORKING_SET", 50 * 4)
    np.testing.assert_allclose(knn_shapley(x, y, xv, yv, 3), whole, atol=1e-12)


def test_values_sum_to_utility_of_the_full_set() -> None:
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(40, 2)), rng.integers(0, 2, 40)
    xv, yv = rng.normal(size=(10, 2)), rng.integers(0, 2, 10)
    full = knn_utility(x, y, xv, yv, 4)(tuple(range(40)))
    assert knn_shapley(x, y, xv, yv, 4).sum() == pytest.approx(full)


def test_method_returns_a_result_keyed_by_row() -> None:
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        return Split(rng.normal(size=(n, 2)), rng.integers(0, 2, n), np.arange(n).astype(object))

    data = TrainingArrays(split(20), split(8), split(8), ("a", "b"), ("f1", "f2"))
    result = make_valuation("knn_shapley", k=3).fit(data).result
    assert result.method == "knn_shapley"
    assert result.params == {"k": 3, "utility": result.diagnostics["utility"]}
    assert list(result.row_keys) == list(range(20))
    assert sorted(result.ranks()) == list(range(1, 21))


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(ValueError, match="kk"):
        make_valuation("knn_shapley", kk=3)
    with pytest.raises(ValueError, match="k=0"):
        make_valuation("knn_shapley", k=0).fit(
            TrainingArrays(
                *(Split(np.zeros((2, 1)), np.zeros(2, int), np.arange(2).astype(object)),) * 3,
                ("a",),
                ("f",),
            )
        )


def imbalanced_arrays(seed: int, n: int = 60, minority: float = 0.2) -> TrainingArrays:
    """Two overlapping classes, the second rare, in every split."""
    rng = np.random.default_rng(seed)

    def split(size: int) -> Split:
        y = (rng.random(size) < minority).astype(np.int64)
        x = rng.normal(size=(size, 2)) + y[:, None] * 1.0
        return Split(x, y, np.arange(size).astype(object))

    return TrainingArrays(split(n), split(n // 2), split(n // 2), ("common", "rare"), ("a", "b"))


@pytest.mark.parametrize("n,k", [(5, 2), (7, 3), (8, 1)])
def test_class_balanced_values_equal_enumeration_of_the_weighted_utility(n: int, k: int) -> None:
    rng = np.random.default_rng(100 + n * k)
    x, y = rng.normal(size=(n, 2)), rng.integers(0, 3, n)
    xv, yv = rng.normal(size=(7, 2)), np.array([0, 0, 0, 0, 1, 1, 2])
    weights = class_weights(yv)
    # Hand computation: 3 classes with 4, 2 and 1 of the 7 validation rows.
    np.testing.assert_allclose(weights, [7 / 12] * 4 + [7 / 6] * 2 + [7 / 3])
    expected = exact_shapley(n, knn_utility(x, y, xv, yv, k, weights))
    np.testing.assert_allclose(knn_shapley(x, y, xv, yv, k, weights=weights), expected, atol=1e-12)


def test_class_balanced_values_do_not_depend_on_the_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(50, 3)), rng.integers(0, 2, 50)
    xv, yv = rng.normal(size=(30, 3)), (rng.random(30) < 0.2).astype(np.int64)
    weights = class_weights(yv)
    whole = knn_shapley(x, y, xv, yv, 3, weights=weights)
    monkeypatch.setattr("mendb.valuation.methods.knn_shapley._WORKING_SET", 50 * 4)
    np.testing.assert_allclose(knn_shapley(x, y, xv, yv, 3, weights=weights), whole, atol=1e-12)


def test_auto_balances_an_imbalanced_label_and_records_why() -> None:
    data = imbalanced_arrays(0)
    auto = make_valuation("knn_shapley", k=5).fit(data).result
    balanced = make_valuation("knn_shapley", k=5, utility="balanced_accuracy").fit(data).result
    plain = make_valuation("knn_shapley", k=5, utility="accuracy").fit(data).result
    assert auto.diagnostics["utility"] == "balanced_accuracy"
    assert "rare" in auto.diagnostics["utility_reason"]
    assert auto.params == {"k": 5, "utility": "balanced_accuracy"}
    np.testing.assert_array_equal(auto.values, balanced.values)
    assert plain.diagnostics == {"utility": "accuracy", "utility_reason": "chosen by the caller"}
    assert not np.allclose(plain.values, balanced.values)
    replay = make_valuation("knn_shapley", **auto.params).fit(data).result
    np.testing.assert_array_equal(replay.values, auto.values)


def test_auto_keeps_accuracy_on_a_balanced_label() -> None:
    data = imbalanced_arrays(1, minority=0.5)
    result = make_valuation("knn_shapley", k=5).fit(data).result
    assert result.diagnostics["utility"] == "accuracy"
    assert result.diagnostics["utility_reason"].startswith("auto:")


def test_balancing_raises_the_rare_class_and_lowers_the_common_one() -> None:
    # Each class's total value is its rows' share of the (weighted) KNN utility:
    # weighting rare validation rows up moves value from common rows to rare ones.
    data = imbalanced_arrays(2, n=200)
    plain = make_valuation("knn_shapley", k=5, utility="accuracy").fit(data).result
    balanced = make_valuation("knn_shapley", k=5, utility="balanced_accuracy").fit(data).result
    rare = data.train.y == 1
    assert balanced.values[rare].mean() > plain.values[rare].mean()
    assert balanced.values[~rare].mean() < plain.values[~rare].mean()
    assert (balanced.values[rare] < 0).sum() < (plain.values[rare] < 0).sum()
