"""The MTM fit flags utilities that a monotone modular function cannot explain;
consensus combines methods by mean rank and reports their agreement."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mendb.valuation.consensus import consensus
from mendb.valuation.diagnostics import mtm_fit
from mendb.valuation.result import ValuationResult


def records_of(utility, n: int, count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        subset = np.flatnonzero(rng.random(n) < 0.5)
        out.append((subset, utility(subset)))
    return out


def test_monotone_transform_of_a_modular_function_fits_well() -> None:
    w = np.random.default_rng(1).normal(size=12)
    fit = mtm_fit(records_of(lambda s: 1 / (1 + math.exp(-w[s].sum())), 12, 400), 12, seed=0)
    assert fit["status"] == "ok" and fit["r2"] > 0.95 and fit["warning"] is None
    json.dumps(fit)


def test_parity_utility_gets_a_plain_words_warning() -> None:
    fit = mtm_fit(records_of(lambda s: float(len(s) % 2), 10, 400), 10, seed=0)
    assert fit["r2"] < 0.5
    assert "ranking rows by value may be no better than random" in fit["warning"]


def test_too_few_samples_are_skipped() -> None:
    assert mtm_fit(records_of(lambda s: 0.0, 5, 3), 5, seed=0)["status"] == "skipped"


def result(keys, values, method: str) -> ValuationResult:
    return ValuationResult.exact(np.array(keys, dtype=object), np.array(values, float), method, {})


def test_consensus_is_the_mean_rank_matched_by_key() -> None:
    a = result(["x", "y", "z", "w"], [0.1, 0.2, 0.3, 0.4], "tmc_shapley")
    b = result(["w", "z", "y", "x"], [9.0, 8.0, 7.0, 6.0], "data_oob")  # same order, shuffled keys
    c = result(["x", "y", "z", "w"], [0.4, 0.3, 0.2, 0.1], "banzhaf")
    combined = consensus([a, b])
    assert combined.method == "consensus" and list(combined.row_keys) == ["x", "y", "z", "w"]
    np.testing.assert_allclose(combined.values, [0.25, 0.5, 0.75, 1.0])
    assert combined.diagnostics["spearman"][0][1] == pytest.approx(1.0)
    assert combined.diagnostics["kendall"][0][1] == pytest.approx(1.0)
    disagree = consensus([a, c])
    assert disagree.diagnostics["kendall"][0][1] == pytest.approx(-1.0)
    np.testing.assert_allclose(disagree.values, [0.625] * 4)
    json.dumps(disagree.diagnostics)


def test_consensus_refuses_different_rows() -> None:
    a = result(["x", "y"], [0.1, 0.2], "tmc_shapley")
    b = result(["x", "q"], [0.1, 0.2], "data_oob")
    with pytest.raises(ValueError, match="data_oob valued different rows"):
        consensus([a, b])


def test_consensus_counts_as_many_harmful_rows_as_its_methods_do_on_average() -> None:
    keys = np.array([f"r{i}" for i in range(10)], dtype=object)
    shapley = ValuationResult.exact(keys, np.linspace(-0.3, 0.6, 10), "knn_shapley", {})
    oob = ValuationResult.exact(keys, np.linspace(0.0, 1.0, 10), "data_oob", {}, harmful_below=0.5)
    assert shapley.harmful().sum() == 3 and oob.harmful().sum() == 5
    both = consensus([shapley, oob])
    assert np.flatnonzero(both.harmful()).tolist() == [0, 1, 2, 3]  # mean(3, 5) rows
    # Values that only rank rows do not count towards it; alone they leave none.
    ranked = ValuationResult.exact(keys, np.arange(10.0), "lava", {}, harmful_below=None)
    assert consensus([shapley, ranked]).harmful().sum() == 3
    assert consensus([ranked]).harmful_below is None


def test_each_method_says_below_which_value_a_row_hurts() -> None:
    from mendb.valuation.methods import METHODS

    assert METHODS["knn_shapley"].harmful_below == 0.0
    assert METHODS["data_oob"].harmful_below == 0.5
    assert METHODS["lava"].harmful_below is None
