"""Monte Carlo options as one object, stopping rules as objects, and methods that
leave their settings as given."""

from __future__ import annotations

import numpy as np
import pytest

from mendb.valuation._validation import InvalidParameterError
from mendb.valuation.methods._sampling import MonteCarloOptions
from mendb.valuation.methods.semivalue import LeaveOneOut, TMCShapley
from mendb.valuation.methods.ts_shapley import TSShapley
from mendb.valuation.stopping import GelmanRubin, MaxSamples
from tests.unit.valuation.games import dataset


def test_options_object_and_keywords_give_the_same_run() -> None:
    data = dataset(6, seed=0)
    by_keywords = TMCShapley(max_samples=24, seed=3).fit(data).result
    by_object = TMCShapley(options=MonteCarloOptions(max_samples=24, seed=3)).fit(data).result
    overridden = TMCShapley(options=MonteCarloOptions(max_samples=24, seed=9), seed=3)
    assert np.array_equal(by_keywords.values, by_object.values)
    assert np.array_equal(by_keywords.values, overridden.fit(data).result.values)
    assert by_object.params == by_keywords.params


def test_a_stopping_rule_object_joins_the_settings() -> None:
    options = MonteCarloOptions(max_samples=10_000, seed=0, stopping=MaxSamples(16))
    result = TMCShapley(options=options).fit(dataset(6, seed=0)).result
    assert 16 <= result.diagnostics["samples"] < 24
    assert result.params["stopping"] == "MaxSamples(16)"
    one_chain = MonteCarloOptions(n_chains=1, stopping=GelmanRubin(1.1))
    with pytest.raises(InvalidParameterError, match="n_chains"):
        TMCShapley(options=one_chain).fit(dataset(6, seed=0))


def test_ts_shapley_fit_leaves_its_settings_as_given() -> None:
    method = TSShapley(subset_size=20, n_chains=2, seed=1)
    before = method.get_params()
    method.fit(dataset(40, seed=0))
    assert method.get_params() == before and method.max_samples is None


def test_leave_one_out_takes_only_where_and_how_it_runs() -> None:
    assert LeaveOneOut.param_names() == [
        "model", "model_params", "utility", "block_size", "executor", "n_jobs"
    ]
    with pytest.raises(TypeError, match="seed"):
        LeaveOneOut(seed=1)
    assert LeaveOneOut(block_size=3).options.n_chains == 1


def test_param_hints_name_every_keyword() -> None:
    hints = TMCShapley.param_hints()
    assert list(hints) == TMCShapley.param_names()
    assert hints["max_samples"] is int and hints["truncation"] is float
    assert "options" not in hints
