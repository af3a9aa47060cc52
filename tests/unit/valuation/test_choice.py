"""The default method: size first, then embeddings, then the label's balance."""

from __future__ import annotations

import numpy as np
import pytest

from mendb.valuation.choice import (
    CONSENSUS_ROWS,
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
