"""The `utility` setting: class weights, balanced accuracy, and the "auto" rule."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from mendb.valuation import Split, TrainingArrays
from mendb.valuation.methods.semivalue import LeaveOneOut, TMCShapley
from mendb.valuation.utility import (
    BALANCE_BELOW,
    ModelUtility,
    balanced_accuracy,
    choose_utility,
    class_weights,
)
from tests.unit.valuation.exact import exact_shapley
from tests.unit.valuation.games import dataset


def test_class_weights_average_one_and_weight_classes_equally() -> None:
    y = np.array([0, 0, 0, 0, 0, 0, 2, 2, 5])
    w = class_weights(y)
    # Hand computation: K = 3 classes, shares 6/9, 2/9, 1/9.
    np.testing.assert_allclose(w, [0.5] * 6 + [1.5] * 2 + [3.0])
    assert w.mean() == pytest.approx(1.0)
    assert [w[y == c].sum() for c in (0, 2, 5)] == pytest.approx([3.0, 3.0, 3.0])


@pytest.mark.parametrize("seed", range(5))
def test_balanced_accuracy_matches_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.choice(4, size=50, p=[0.6, 0.25, 0.1, 0.05])
    y_pred = np.where(rng.random(50) < 0.7, y_true, rng.integers(0, 4, 50))
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(
        balanced_accuracy_score(y_true, y_pred)
    )


def test_majority_prediction_scores_one_over_k_when_balanced() -> None:
    y = np.array([0] * 9 + [1])
    assert balanced_accuracy(y, np.zeros(10, np.int64)) == pytest.approx(0.5)
    assert ModelUtility(
        np.zeros((10, 1)), y, np.zeros((10, 1)), y, metric=balanced_accuracy
    ).empty == pytest.approx(0.5)


@pytest.mark.parametrize(
    "counts,expected",
    [
        ((50, 50), "accuracy"),
        ((60, 30), "accuracy"),  # exactly half: not under the limit
        ((60, 29), "balanced_accuracy"),
        ((74, 26), "balanced_accuracy"),
        ((40, 0, 35, 19), "balanced_accuracy"),  # an absent class does not count
        ((40, 0, 35, 21), "accuracy"),
        ((30,), "accuracy"),
    ],
)
def test_auto_balances_when_the_smallest_class_is_under_half_the_largest(
    counts: tuple[int, ...], expected: str
) -> None:
    assert BALANCE_BELOW == 0.5
    y = np.repeat(np.arange(len(counts)), counts)
    choice = choose_utility("auto", y)
    assert choice.metric == expected and choice.reason.startswith("auto:")
    assert choice.balanced == (expected == "balanced_accuracy")


def test_an_explicit_setting_is_kept_whatever_the_balance() -> None:
    y = np.repeat([0, 1], [90, 10])
    assert choose_utility("accuracy", y).metric == "accuracy"
    assert choose_utility("balanced_accuracy", np.repeat([0, 1], [5, 5])).metric == (
        "balanced_accuracy"
    )
    assert choose_utility("accuracy", y).reason == "chosen by the caller"


def test_the_reason_names_the_smallest_class_and_its_share() -> None:
    reason = choose_utility("auto", np.repeat([0, 1], [88, 12]), ("ok", "fraud")).reason
    assert "fraud" in reason and "12%" in reason


def imbalanced_dataset(n: int, seed: int) -> TrainingArrays:
    """Like games.dataset but the positive class is rare in every split."""
    base = dataset(n, seed)

    def shifted(split: Split) -> Split:
        y = (split.x[:, 0] > 0.9).astype(np.int64)
        return Split(split.x, y, split.keys)

    return TrainingArrays(
        shifted(base.train),
        shifted(base.valid),
        shifted(base.test),
        base.classes,
        base.feature_names,
    )


def test_tmc_with_balanced_accuracy_converges_to_exact_shapley_of_that_utility() -> None:
    data = imbalanced_dataset(7, seed=11)
    assert 0 < data.train.y.sum() < 3
    u = ModelUtility(
        data.train.x, data.train.y, data.valid.x, data.valid.y, metric=balanced_accuracy
    )
    expected = exact_shapley(7, lambda s: u(np.array(s, dtype=np.int64)))
    result = TMCShapley(max_samples=2000, truncation=0.0, seed=0).fit(data).result
    assert result.diagnostics["utility"] == "balanced_accuracy"
    assert result.params["utility"] == "balanced_accuracy"
    np.testing.assert_allclose(result.values, expected, atol=0.015)
    plain = ModelUtility(data.train.x, data.train.y, data.valid.x, data.valid.y)
    assert not np.allclose(expected, exact_shapley(7, lambda s: plain(np.array(s, np.int64))))


def test_leave_one_out_uses_the_chosen_metric_exactly() -> None:
    data = imbalanced_dataset(8, seed=12)
    u = ModelUtility(
        data.train.x, data.train.y, data.valid.x, data.valid.y, metric=balanced_accuracy
    )
    everyone = np.arange(8)
    expected = [u(everyone) - u(np.delete(everyone, i)) for i in everyone]
    result = LeaveOneOut(utility="balanced_accuracy").fit(data).result
    np.testing.assert_allclose(result.values, expected, atol=1e-12)
    assert "convergence" not in result.diagnostics  # exact: nothing to converge


def test_an_unknown_utility_is_named() -> None:
    with pytest.raises(ValueError, match="utility='f1'"):
        TMCShapley(utility="f1", max_samples=2).fit(dataset(5, seed=0))
