"""Exact KNN-Shapley for the K-NN regressor against the enumeration of every subset."""

from __future__ import annotations

import numpy as np
import pytest

from mendb.valuation import Split, Task, TrainingArrays
from mendb.valuation.errors import InvalidParameterError
from mendb.valuation.methods import make_valuation
from mendb.valuation.methods.knn_regression import knn_shapley_regression, pair_probability
from tests.unit.valuation.exact import exact_shapley


def regression_utility(x_train, y_train, x_valid, y_valid, k, center):
    """Minus the mean over validation rows of the squared error of the K-NN mean
    prediction, a missing neighbour counting as `center`; nearest first, ties by row."""

    def u(subset: tuple[int, ...]) -> float:
        total = 0.0
        for xv, t in zip(x_valid, y_valid, strict=True):
            predicted = center
            if subset:
                idx = np.array(subset)
                dist = ((x_train[idx] - xv) ** 2).sum(axis=1)
                nearest = idx[np.argsort(dist, kind="stable")[:k]]
                predicted = center + (y_train[nearest] - center).sum() / k
            total -= (predicted - t) ** 2
        return total / len(x_valid)

    return u


def recursion_loop(x_train, y_train, x_valid, y_valid, k, center):
    """The module's recursion, one validation row and one position at a time."""
    n = len(x_train)
    values = np.zeros(n)
    for xv, t in zip(x_valid, y_valid, strict=True):
        order = np.argsort(((x_train - xv) ** 2).sum(axis=1), kind="stable")
        a, b = (y_train[order] - center) / k, t - center
        s = np.zeros(n)
        g = lambda q: float(pair_probability(q, k))  # noqa: E731
        s[n - 1] = -a[n - 1] * (
            (a[n - 1] - 2 * b) * min(k, n) / n + (2 * g(n - 2) * a[: n - 1].sum() if n > 1 else 0)
        )
        for i in range(n - 1, 0, -1):  # 1-based i: s_i from s_{i+1}
            before = 2 * g(i - 2) * a[: i - 1].sum() if i > 1 else 0.0
            after = 2 * sum(g(j - 3) * a[j - 1] for j in range(i + 2, n + 1))
            bracket = (a[i - 1] + a[i] - 2 * b) * min(k, i) / i + before + after
            s[i - 1] = s[i] + (a[i] - a[i - 1]) * bracket
        values[order] += s
    return values / len(x_valid)


def regression_data(n: int, seed: int, n_valid: int = 10) -> TrainingArrays:
    rng = np.random.default_rng(seed)

    def split(m: int) -> Split:
        x = rng.normal(size=(m, 2))
        y = 50.0 + 10.0 * x[:, 0] + rng.normal(size=m)
        return Split(x, y, np.array([f"r{i}" for i in range(m)], dtype=object))

    return TrainingArrays(split(n), split(n_valid), split(3), (), ("a", "b"), task=Task.REGRESSION)


@pytest.mark.parametrize(
    "n,k", [(1, 1), (1, 3), (2, 1), (3, 2), (5, 2), (6, 3), (7, 1), (8, 3), (8, 8), (5, 10)]
)
def test_equals_enumeration_of_all_subsets(n: int, k: int) -> None:
    rng = np.random.default_rng(n * 10 + k)
    x, y = rng.normal(size=(n, 2)), 5.0 + 3.0 * rng.normal(size=n)
    xv, yv = rng.normal(size=(4, 2)), 5.0 + 3.0 * rng.normal(size=4)
    center = float(y.mean())
    expected = exact_shapley(n, regression_utility(x, y, xv, yv, k, center))
    np.testing.assert_allclose(knn_shapley_regression(x, y, xv, yv, k), expected, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_ties_are_ordered_by_row_like_the_enumeration(k: int) -> None:
    rng = np.random.default_rng(k)
    # Repeated rows and a grid put many training rows at equal distances.
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 0.0], [2, 2]])
    y = rng.normal(size=len(x)) * 4.0
    xv = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    yv = rng.normal(size=3) * 4.0
    for center in (0.0, float(y.mean()), 7.5):
        expected = exact_shapley(len(x), regression_utility(x, y, xv, yv, k, center))
        got = knn_shapley_regression(x, y, xv, yv, k, center=center)
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_equals_the_recursion_written_as_a_loop_on_larger_data() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(60, 3)), rng.normal(size=60) * 20.0
    xv, yv = rng.normal(size=(25, 3)), rng.normal(size=25) * 20.0
    for k in (1, 5, 60, 100):
        expected = recursion_loop(x, y, xv, yv, k, float(y.mean()))
        np.testing.assert_allclose(knn_shapley_regression(x, y, xv, yv, k), expected, atol=1e-9)


def test_values_sum_to_the_fall_in_squared_error_below_the_mean() -> None:
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=40) + 3.0
    xv, yv = rng.normal(size=(15, 2)), rng.normal(size=15) + 3.0
    u = regression_utility(x, y, xv, yv, 4, float(y.mean()))
    total = knn_shapley_regression(x, y, xv, yv, 4).sum()
    assert total == pytest.approx(u(tuple(range(40))) - u(()), abs=1e-10)


def test_batches_give_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    xv, yv = rng.normal(size=(30, 3)), rng.normal(size=30)
    whole = knn_shapley_regression(x, y, xv, yv, 3)
    monkeypatch.setattr("mendb.valuation.methods.knn_regression._WORKING_SET", 50 * 4)
    np.testing.assert_allclose(knn_shapley_regression(x, y, xv, yv, 3), whole, atol=1e-12)


def test_a_slipped_decimal_point_gets_the_lowest_value() -> None:
    data = regression_data(80, seed=2, n_valid=40)
    y = data.train.y.copy()
    y[[5, 17]] *= 10.0
    noisy = TrainingArrays(
        Split(data.train.x, y, data.train.keys),
        data.valid,
        data.test,
        (),
        ("a", "b"),
        task=Task.REGRESSION,
    )
    values = make_valuation("knn_shapley", k=5).fit(noisy).result.values
    assert set(np.argsort(values)[:2]) == {5, 17}


def test_method_dispatches_on_the_task_and_records_the_utility() -> None:
    data = regression_data(30, seed=1)
    result = make_valuation("knn_shapley", k=3).fit(data).result
    expected = knn_shapley_regression(data.train.x, data.train.y, data.valid.x, data.valid.y, 3)
    np.testing.assert_allclose(result.values, expected, atol=1e-12)
    assert result.params == {"k": 3, "utility": "neg_mse"}
    assert result.diagnostics["utility"] == "neg_mse"
    assert "regression" in result.diagnostics["utility_reason"]
    assert result.diagnostics["center"] == pytest.approx(float(data.train.y.mean()))
    assert list(result.row_keys) == list(data.train.keys)


@pytest.mark.parametrize("utility", ["accuracy", "balanced_accuracy", "r2"])
def test_a_utility_the_kernel_cannot_value_is_named(utility: str) -> None:
    with pytest.raises(InvalidParameterError, match="utility") as caught:
        make_valuation("knn_shapley", utility=utility).fit(regression_data(10, seed=0))
    assert caught.value.column == "utility"
