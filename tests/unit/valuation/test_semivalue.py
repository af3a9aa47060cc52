"""Monte Carlo semivalues converge to brute-force enumeration (n <= 8).

Tolerances are absolute, on accuracy-valued utilities in [0, 1], at a fixed seed;
each is several standard errors of the estimate at the sample count used.
"""

from __future__ import annotations

import numpy as np
import pytest

from mendb.valuation.methods.semivalue import BanzhafMSR, BetaShapley, LeaveOneOut, TMCShapley
from tests.unit.valuation.exact import (
    banzhaf_weight,
    beta_weight,
    exact_semivalue,
    exact_shapley,
)
from tests.unit.valuation.games import dataset, utility_of


def test_tmc_shapley_converges_to_exact_shapley() -> None:
    data = dataset(7, seed=1)
    expected = exact_shapley(7, utility_of(data))
    result = TMCShapley(max_samples=3000, truncation=0.0, seed=0).fit(data).result
    np.testing.assert_allclose(result.values, expected, atol=0.01)
    assert np.all(np.abs(result.values - expected) <= 5 * result.stderr + 1e-12)
    assert result.counts.tolist() == [3000] * 7


def test_truncation_stays_close_and_saves_evaluations() -> None:
    data = dataset(8, seed=2)
    expected = exact_shapley(8, utility_of(data))
    full = TMCShapley(max_samples=1000, truncation=0.0, seed=0).fit(data).result
    cut = TMCShapley(max_samples=1000, truncation=0.05, seed=0).fit(data).result
    np.testing.assert_allclose(cut.values, expected, atol=0.03)
    assert cut.diagnostics["utility_evaluations"] < full.diagnostics["utility_evaluations"]


def test_banzhaf_msr_converges_to_exact_banzhaf() -> None:
    data = dataset(6, seed=3)
    expected = exact_semivalue(6, utility_of(data), banzhaf_weight)
    result = BanzhafMSR(max_samples=20_000, seed=0).fit(data).result
    np.testing.assert_allclose(result.values, expected, atol=0.01)


@pytest.mark.parametrize("alpha,beta", [(16.0, 1.0), (4.0, 2.0), (1.0, 1.0)])
def test_beta_shapley_converges_to_exact_beta_semivalue(alpha: float, beta: float) -> None:
    data = dataset(6, seed=4)
    expected = exact_semivalue(6, utility_of(data), beta_weight(alpha, beta))
    result = BetaShapley(alpha=alpha, beta=beta, max_samples=4000, seed=0).fit(data).result
    np.testing.assert_allclose(result.values, expected, atol=0.015)


def test_leave_one_out_is_exact() -> None:
    data = dataset(8, seed=5)
    u = utility_of(data)
    everyone = tuple(range(8))
    expected = [u(everyone) - u(tuple(j for j in everyone if j != i)) for i in everyone]
    result = LeaveOneOut(block_size=3).fit(data).result
    np.testing.assert_array_equal(result.values, expected)
    assert result.seed is None and result.stderr.tolist() == [0.0] * 8


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: TMCShapley(max_samples=40, seed=seed),
        lambda seed: BanzhafMSR(max_samples=200, seed=seed),
        lambda seed: BetaShapley(max_samples=40, seed=seed),
    ],
)
def test_same_seed_same_values(make) -> None:
    data = dataset(12, seed=6)
    first, again = make(7).fit(data).result, make(7).fit(data).result
    np.testing.assert_array_equal(first.values, again.values)
    np.testing.assert_array_equal(first.stderr, again.stderr)
    assert not np.array_equal(first.values, make(8).fit(data).result.values)


def test_seed_is_drawn_and_recorded_when_not_given() -> None:
    data = dataset(6, seed=7)
    result = TMCShapley(max_samples=8).fit(data).result
    assert isinstance(result.seed, int) and result.params["seed"] == result.seed
    replay = TMCShapley(max_samples=8, seed=result.seed).fit(data).result
    np.testing.assert_array_equal(result.values, replay.values)


def test_result_carries_diagnostics_and_progress_reaches_one() -> None:
    data = dataset(10, seed=8)
    seen: list[float] = []
    result = TMCShapley(max_samples=60, seed=1).fit(data, progress=seen.append).result
    assert seen[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in seen)
    diagnostics = result.diagnostics
    assert diagnostics["samples"] == 60 and diagnostics["utility_evaluations"] > 0
    assert diagnostics["gelman_rubin_max"] is None or diagnostics["gelman_rubin_max"] >= 0.0
    assert diagnostics["mtm"]["status"] == "ok"
    assert result.method == "tmc_shapley" and list(result.row_keys) == list(data.train.keys)


def test_invalid_parameters_are_named() -> None:
    data = dataset(5, seed=9)
    with pytest.raises(ValueError, match="truncation"):
        TMCShapley(truncation=-1.0).fit(data)
    with pytest.raises(ValueError, match="n_chains"):
        BanzhafMSR(rhat_below=1.05, n_chains=1).fit(data)
    with pytest.raises(ValueError, match="alpha"):
        BetaShapley(alpha=0).fit(data)


def test_any_sklearn_estimator_or_torch_module_can_be_the_proxy() -> None:
    import torch
    from sklearn.linear_model import LogisticRegression

    data = dataset(6, seed=10)
    for model in (LogisticRegression(), torch.nn.Linear(2, 2)):
        result = TMCShapley(max_samples=2, model=model, seed=0).fit(data).result
        assert np.all(np.isfinite(result.values)) and isinstance(result.params["model"], str)
