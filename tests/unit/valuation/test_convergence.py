"""A Monte Carlo run says whether it converged by its own checks: the criteria it
asked for, R-hat across chains, rows never sampled."""

from __future__ import annotations

import numpy as np
import pytest

from mendb.valuation.engine import run
from mendb.valuation.methods.data_oob import DataOOB
from mendb.valuation.methods.knn_shapley import KNNShapley
from mendb.valuation.methods.semivalue import TMCShapley
from mendb.valuation.methods.ts_shapley import TSShapley
from mendb.valuation.samplers import MSRSampler, PermutationSampler
from mendb.valuation.stopping import (
    RHAT_LIMIT,
    MaxSamples,
    RankStability,
    StandardErrorBelow,
    assess_convergence,
    criteria_met,
)
from tests.unit.valuation.games import dataset, smooth_game


def test_criteria_met_walks_nested_rules_and_skips_budgets() -> None:
    rule = MaxSamples(10) | StandardErrorBelow(0.1) | RankStability(0.01)
    assert criteria_met(rule) == {"stderr_below": False, "rank_tolerance": False}


def test_the_engine_records_whether_each_criterion_held_at_the_end() -> None:
    game = smooth_game([0.5, -0.2, 0.3, 0.1], 1.0, 0.1)
    reached = MaxSamples(100_000) | StandardErrorBelow(0.02)
    estimate = run(game, MSRSampler(), game.n, reached, max_samples=100_000, seed=0, block_size=50)
    assert estimate.criteria == {"stderr_below": True}
    out_of_reach = MaxSamples(200) | StandardErrorBelow(1e-6)
    estimate = run(game, MSRSampler(), game.n, out_of_reach, max_samples=200, seed=0, block_size=50)
    assert estimate.samples == 200 and estimate.criteria == {"stderr_below": False}
    assert criteria_met(out_of_reach) == {"stderr_below": False}  # the caller's rule untouched


def test_a_budget_only_run_has_no_criteria() -> None:
    game = smooth_game([0.5, -0.2, 0.3], 1.0, 0.0)
    estimate = run(game, PermutationSampler(), game.n, MaxSamples(20), max_samples=20, seed=0)
    assert estimate.criteria == {}


@pytest.mark.parametrize(
    "rhat,n_chains,criteria,never,limit,converged",
    [
        (1.02, 4, {}, 0, None, True),
        (RHAT_LIMIT + 0.01, 4, {}, 0, None, False),
        (float("nan"), 4, {}, 0, None, False),  # too few samples per chain
        (1.02, 4, {"stderr_below": False}, 0, None, False),
        (1.02, 4, {"stderr_below": True}, 0, None, True),
        (1.04, 4, {"rhat_below": False}, 0, 1.03, False),
        (float("nan"), 1, {}, 0, None, None),  # nothing to check it by
        (float("nan"), 1, {"rank_tolerance": True}, 0, None, True),
        (float("nan"), 1, {}, 3, None, False),
    ],
)
def test_assessment(rhat, n_chains, criteria, never, limit, converged) -> None:
    verdict = assess_convergence(rhat, n_chains, criteria, never, limit)
    assert verdict.converged is converged
    assert (verdict.warning is None) == (converged is not False)
    as_dict = verdict.to_dict()
    assert as_dict["converged"] is converged and set(as_dict) >= {"rhat", "warning"}


def test_rhat_not_judged_is_reported_but_does_not_fail_the_run() -> None:
    verdict = assess_convergence(3.0, 2, {}, judge_rhat=False)
    assert verdict.converged is None and verdict.rhat == 3.0 and verdict.rhat_limit is None
    asked = assess_convergence(3.0, 2, {"rhat_below": False}, rhat_limit=1.05, judge_rhat=False)
    assert asked.converged is False and "R-hat across chains is 3" in (asked.warning or "")


def test_a_tiny_tmc_run_is_flagged_and_a_long_one_is_not() -> None:
    data = dataset(6, seed=1)
    tiny = TMCShapley(max_samples=8, n_chains=4, seed=0).fit(data).result
    flag = tiny.diagnostics["convergence"]
    assert tiny.converged is False and flag["converged"] is False
    assert "did not converge" in flag["warning"]
    long = TMCShapley(max_samples=2000, n_chains=4, seed=0).fit(data).result
    assert long.converged is True and long.diagnostics["convergence"]["warning"] is None
    assert long.diagnostics["convergence"]["rhat"] == long.diagnostics["gelman_rubin_max"]


def test_a_criterion_out_of_reach_of_the_budget_is_flagged() -> None:
    data = dataset(6, seed=1)
    result = TMCShapley(max_samples=40, stderr_below=1e-9, seed=0).fit(data).result
    flag = result.diagnostics["convergence"]
    assert flag["criteria"] == {"stderr_below": False} and flag["converged"] is False
    assert "stderr_below was not met" in flag["warning"]


def test_a_ts_shapley_run_cut_short_is_flagged() -> None:
    data = dataset(120, seed=4)
    cut = TSShapley(subset_size=20, n_chains=2, max_samples=3, seed=1).fit(data).result
    flag = cut.diagnostics["convergence"]
    assert flag["converged"] is False and flag["never_sampled"] == cut.diagnostics["never_sampled"]
    assert flag["never_sampled"] > 0 and "never sampled" in flag["warning"]
    whole = TSShapley(subset_size=20, n_chains=2, seed=1).fit(data).result
    assert whole.diagnostics["convergence"]["never_sampled"] == 0
    assert whole.converged is None  # R-hat is reported, not judged, unless asked for
    assert whole.diagnostics["convergence"]["rhat"] is not None


def test_data_oob_with_rows_never_out_of_bag_is_flagged() -> None:
    data = dataset(40, seed=2)
    few = DataOOB(n_estimators=2, seed=0).fit(data).result
    assert few.diagnostics["never_out_of_bag"] > 0 and few.converged is False
    many = DataOOB(n_estimators=60, seed=0).fit(data).result
    assert many.diagnostics["never_out_of_bag"] == 0 and many.converged is None


def test_exact_methods_carry_no_convergence_flag() -> None:
    result = KNNShapley(k=3).fit(dataset(10, seed=0)).result
    assert "convergence" not in result.diagnostics and result.converged is None


def test_the_seed_decides_the_flag() -> None:
    data = dataset(6, seed=1)
    a = TMCShapley(max_samples=8, seed=5).fit(data).result
    b = TMCShapley(max_samples=8, seed=5).fit(data).result
    assert a.diagnostics["convergence"] == b.diagnostics["convergence"]
    np.testing.assert_array_equal(a.values, b.values)
