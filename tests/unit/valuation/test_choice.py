"""The default method: size first, then embeddings, then the label's balance; for a
regression target, size and embeddings only."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score

from mendb.valuation import Split, Task, TrainingArrays
from mendb.valuation.choice import (
    CONSENSUS_ROWS,
    HUBER,
    IMBALANCED_BELOW,
    TS_ROWS,
    MethodChoice,
    choose_method,
    class_balance,
)
from mendb.valuation.methods import METHODS, make_valuation


def test_class_balance_is_smallest_over_largest_of_the_classes_present() -> None:
    assert class_balance(np.array([30, 0, 120, 60])) == pytest.approx(0.25)
    assert class_balance(np.array([0, 7])) == 1.0
    assert class_balance(np.array([5, 5])) == 1.0


def test_above_the_transferred_shapley_threshold_size_decides_alone() -> None:
    chosen = choose_method(TS_ROWS + 1, {"vector"}, np.array([1, 100]))
    assert chosen.method == "ts_shapley"
    assert f"{TS_ROWS + 1:,}" in chosen.reason
    assert choose_method(TS_ROWS, {"numeric"}, np.array([50, 50])).method != "ts_shapley"


def test_embeddings_use_knn_shapley_whatever_the_balance() -> None:
    for counts in (np.array([50, 50]), np.array([5, 95])):
        assert choose_method(1_000, {"numeric", "text"}, counts).method == "knn_shapley"


def test_an_imbalanced_tabular_label_combines_data_oob_and_influence() -> None:
    just_under = round(100 * IMBALANCED_BELOW) - 1
    chosen = choose_method(CONSENSUS_ROWS, {"numeric", "categorical"}, np.array([just_under, 100]))
    assert chosen.method == "consensus"
    assert chosen.params["methods"] == ["data_oob", "influence_adam"]
    assert [p.method for p in chosen.parts] == chosen.params["methods"]
    assert f"{just_under}%" in chosen.reason


def test_a_balanced_tabular_label_combines_knn_shapley_and_data_oob() -> None:
    at_threshold = np.array([round(100 * IMBALANCED_BELOW), 100])
    chosen = choose_method(500, {"numeric"}, at_threshold)
    assert chosen.params["methods"] == ["knn_shapley", "data_oob"]
    assert "balanced" in chosen.reason


def test_large_tabular_tables_use_knn_shapley_alone() -> None:
    for counts in (np.array([10, 100]), np.array([100, 100])):
        chosen = choose_method(CONSENSUS_ROWS + 1, {"numeric"}, counts)
        assert (chosen.method, chosen.parts) == ("knn_shapley", ())


def test_every_part_runs_with_the_plain_accuracy_utility() -> None:
    for counts in (np.array([10, 100]), np.array([100, 100])):
        for part in choose_method(1_000, {"numeric"}, counts).parts:
            assert part.params.get("utility", "accuracy") == "accuracy"


@pytest.mark.parametrize(
    ("n_train", "kinds", "counts"),
    [
        (TS_ROWS + 1, {"numeric"}, [10, 10]),
        (100, {"vector"}, [10, 10]),
        (100, {"numeric"}, [1, 10]),
        (CONSENSUS_ROWS + 1, {"numeric"}, [1, 10]),
        (100, {"numeric"}, [10, 10]),
    ],
)
def test_every_choice_is_runnable_with_the_parameters_it_gives(
    n_train: int, kinds: set[str], counts: list[int]
) -> None:
    chosen = choose_method(n_train, kinds, np.array(counts))
    runs: tuple[MethodChoice, ...] = chosen.parts or (chosen,)
    for run in runs:
        assert run.method in METHODS
        make_valuation(run.method, **run.params)  # refuses unknown parameters
    assert chosen.reason and chosen.reason[-1].isalpha()


def _slipped_and_heavy_tailed(seed: int) -> tuple[TrainingArrays, NDArray[np.bool_]]:
    """A linear target with a tenth of the training targets wrong: half of them a
    slipped decimal point (x 10), half a heavy-tailed addition."""
    rng = np.random.default_rng(seed)
    coef = np.array([3.0, -2.0, 1.0])

    def split(m: int, wrong: NDArray[np.bool_] | None = None) -> Split:
        x = rng.normal(size=(m, 3))
        y = 20.0 + x @ coef + rng.normal(size=m)
        if wrong is not None:
            rows = np.flatnonzero(wrong)
            slipped, tailed = rows[::2], rows[1::2]
            y[slipped] *= 10.0
            y[tailed] += 3.0 * rng.standard_t(2, size=len(tailed))
        return Split(x, y, np.array([f"r{i}" for i in range(m)], dtype=object))

    wrong = np.zeros(300, dtype=bool)
    wrong[rng.choice(300, 30, replace=False)] = True
    data = TrainingArrays(
        split(300, wrong), split(60), split(10), (), ("a", "b", "c"), task=Task.REGRESSION
    )
    return data, wrong


def test_a_tabular_regression_target_is_valued_by_data_oob_over_robust_bags() -> None:
    chosen = choose_method(CONSENSUS_ROWS, {"numeric", "categorical"}, np.array([]), "regression")
    assert (chosen.method, chosen.parts) == ("data_oob", ())
    # "auto", so the run says why its utility is minus the MSE, not that a caller chose it.
    assert chosen.params["model"] == HUBER and chosen.params["utility"] == "auto"
    assert "Huber" in chosen.reason and f"{CONSENSUS_ROWS:,}" in chosen.reason
    assert choose_method(CONSENSUS_ROWS + 1, {"numeric"}, np.array([]), "regression").method == (
        "knn_shapley"
    )


def test_robust_bags_rank_wrong_targets_lowest_at_least_as_well_as_ridge_bags() -> None:
    # Why the default is Huber's bags: a least-squares bag is pulled towards the wrong
    # targets it was fitted on, a robust one is not.
    data, wrong = _slipped_and_heavy_tailed(seed=3)
    chosen = choose_method(len(data.train), {"numeric"}, np.array([]), Task.REGRESSION)
    default = make_valuation(chosen.method, **chosen.params, seed=0).fit(data).result
    assert default.params["utility"] == "neg_mse"  # as resolved, so the params replay it
    assert default.diagnostics["utility_reason"].startswith("auto: a regression target")
    ridge = make_valuation("data_oob", model="linear", n_estimators=100, seed=0).fit(data).result
    assert roc_auc_score(wrong, -default.values) >= roc_auc_score(wrong, -ridge.values)
    assert roc_auc_score(wrong, -default.values) > 0.85
