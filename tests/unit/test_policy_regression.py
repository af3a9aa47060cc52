"""The loop's decisions for a numeric target, without a database: which judge
refuses a round, and properties no measurement can break (the sealed test is never
read, an MSE or MAE rise beyond its margin is never kept, a move of the target's
mean toward the reference is never refused)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mendb.server.policy import DecisionCode
from mendb.server.policy_regression import judge_error_round, target_shift_guard
from mendb.valuation.judge import paired_change
from mendb.valuation.judge_regression import ErrorMeasurement


def measured(targets: np.ndarray, noise: float, seed: int, bias: float = 0.0) -> ErrorMeasurement:
    rng = np.random.default_rng(seed)
    return ErrorMeasurement(targets + bias + rng.normal(scale=noise, size=len(targets)), targets)


TARGETS = np.random.default_rng(0).normal(100.0, 20.0, 200)


def test_a_round_that_lowers_both_errors_is_kept() -> None:
    decision = judge_error_round(measured(TARGETS, 10.0, 1), measured(TARGETS, 5.0, 1))
    assert decision.code is DecisionCode.KEPT and decision.keep and not decision.stop
    assert decision.figures["mse_change"] < 0 and decision.figures["mae_change"] < 0
    assert decision.reason.startswith("validation RMSE ")
    assert "validation MAE" in decision.reason and decision.reason.endswith("kept")
    assert decision.figures["rmse_after"] == pytest.approx(measured(TARGETS, 5.0, 1).scores().rmse)


def test_a_round_that_raises_the_mse_is_reverted_naming_it() -> None:
    decision = judge_error_round(measured(TARGETS, 5.0, 1), measured(TARGETS, 10.0, 1))
    assert decision.code is DecisionCode.MSE_NOT_BETTER and not decision.keep and decision.stop
    assert "validation RMSE" in decision.reason and decision.reason.endswith("reverted")


def test_a_round_that_changes_nothing_is_not_better() -> None:
    same = measured(TARGETS, 5.0, 1)
    assert judge_error_round(same, same).code is DecisionCode.MSE_NOT_BETTER


def test_a_price_is_judged_on_the_scale_it_was_learned_on_and_must_not_cost_y() -> None:
    """Prices over two decades, learned on asinh(y / m): the MSE judge pairs the
    errors on that scale, where a mend of the cheap rows shows; a round that also
    raises the MSE on y beyond its margin is not kept."""
    from mendb.valuation.target_scale import TargetScale

    rng = np.random.default_rng(3)
    prices = np.exp(rng.uniform(np.log(300.0), np.log(30000.0), 2000))
    scale = TargetScale(float(np.percentile(prices, 5)))

    def on_scale(log_noise: np.ndarray) -> ErrorMeasurement:
        return ErrorMeasurement(prices * np.exp(log_noise), prices, scale)

    noise = rng.normal(scale=0.3, size=2000)
    cheap = prices < np.median(prices)
    mended = np.where(cheap, noise / 3, noise)  # the cheap half's errors shrink
    kept = judge_error_round(on_scale(noise), on_scale(mended))
    assert kept.code is DecisionCode.KEPT and "MSE on asinh(y / " in kept.reason
    assert kept.figures["mse_y_change"] < kept.figures["mse_y_se"] * 1.645
    # The cheap rows mended outright while the dear rows' errors grow a third: less
    # on the scale learned, much more on y.
    worse_on_y = judge_error_round(on_scale(noise), on_scale(np.where(cheap, 0.0, noise * 1.3)))
    assert worse_on_y.figures["mse_change"] < 0 < worse_on_y.figures["mse_y_change"]
    assert worse_on_y.code is DecisionCode.RMSE_ROSE and not worse_on_y.keep
    with pytest.raises(ValueError, match="same scale"):
        judge_error_round(on_scale(noise), ErrorMeasurement(prices, prices))


def test_an_mse_bought_on_a_few_rows_while_the_mae_rises_is_reverted() -> None:
    """Most rows a little worse, a few far-out rows much better: the MSE falls, the
    MAE rises beyond its margin."""
    targets = np.zeros(400)
    before = np.full(400, 1.0)
    before[:8] = 30.0
    after = np.full(400, 2.0)
    after[:8] = 1.0
    first, second = ErrorMeasurement(before, targets), ErrorMeasurement(after, targets)
    assert second.scores().mse < first.scores().mse
    decision = judge_error_round(first, second, z=1.0)
    assert decision.code is DecisionCode.MAE_ROSE and not decision.keep
    assert "validation MAE" in decision.reason


def test_the_minimum_gain_is_a_share_of_the_mse() -> None:
    before, after = measured(TARGETS, 10.0, 1), measured(TARGETS, 9.0, 1)
    fall = 1 - after.scores().mse / before.scores().mse
    assert judge_error_round(before, after, z=0.0, min_gain=fall * 0.9).keep
    refused = judge_error_round(before, after, z=0.0, min_gain=fall * 1.1)
    assert refused.code is DecisionCode.GAIN_BELOW_MIN


def test_no_rows_or_different_rows_decide_nothing() -> None:
    empty = ErrorMeasurement(np.zeros(0), np.zeros(0))
    assert judge_error_round(empty, empty).code is DecisionCode.NO_VALIDATION_ROWS
    with pytest.raises(ValueError, match="same rows"):
        judge_error_round(measured(TARGETS, 1.0, 1), measured(TARGETS + 1, 1.0, 1))
    with pytest.raises(ValueError, match="negative"):
        judge_error_round(measured(TARGETS, 1.0, 1), measured(TARGETS, 1.0, 1), z=-1)


def test_one_row_claims_no_margin_even_at_z_zero() -> None:
    one = np.array([3.0])
    decision = judge_error_round(ErrorMeasurement(one + 5, one), ErrorMeasurement(one, one), z=0)
    assert not decision.keep


predictions = st.integers(0, 2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).normal(0.0, 3.0, 40) ** 3
)
targets_40 = st.integers(0, 2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).normal(0.0, 5.0, 40)
)


@settings(max_examples=60, deadline=None)
@given(predictions, predictions, predictions, predictions, targets_40, targets_40)
def test_the_sealed_test_never_changes_a_decision(
    before: np.ndarray,
    after: np.ndarray,
    test_before: np.ndarray,
    test_after: np.ndarray,
    valid_targets: np.ndarray,
    test_targets: np.ndarray,
) -> None:
    valid = ErrorMeasurement(before, valid_targets), ErrorMeasurement(after, valid_targets)
    test = ErrorMeasurement(test_before, test_targets), ErrorMeasurement(test_after, test_targets)
    blind = judge_error_round(*valid)
    seen = judge_error_round(*valid, test=test)
    swapped = judge_error_round(*valid, test=(test[1], test[0]))
    assert blind == seen == swapped


@settings(max_examples=80, deadline=None)
@given(predictions, predictions, targets_40, st.floats(0.0, 3.0), st.floats(0.0, 0.5))
def test_an_error_rise_beyond_its_margin_is_never_kept(
    before: np.ndarray, after: np.ndarray, targets: np.ndarray, z: float, min_gain: float
) -> None:
    first, second = ErrorMeasurement(before, targets), ErrorMeasurement(after, targets)
    mse = paired_change(first.row_squared_error(), second.row_squared_error())
    mae = paired_change(first.row_absolute_error(), second.row_absolute_error())
    decision = judge_error_round(first, second, z=z, min_gain=min_gain)
    if mse.mean > -z * mse.se or mae.mean > z * mae.se:
        assert not decision.keep
    if decision.keep:
        assert -mse.mean > z * mse.se and -mse.mean >= min_gain * first.scores().mse


def test_repairs_that_drag_the_mean_away_are_refused_before_they_apply() -> None:
    rng = np.random.default_rng(3)
    train = rng.normal(100.0, 20.0, 300)
    inflated = train.copy()
    inflated[:30] *= 10  # a wrong power of ten on a tenth of the rows
    refusal = target_shift_guard(train, inflated, 100.0, 20.0, 100)
    assert refusal is not None and refusal.code is DecisionCode.TARGET_SHIFT
    assert not refusal.keep and refusal.reason.endswith("refused before it was applied")
    assert refusal.figures["target_mean_after"] > refusal.figures["target_mean_before"]
    # restoring the slipped values moves the mean back: it passes
    assert target_shift_guard(inflated, train, 100.0, 20.0, 100) is None


def test_a_small_move_away_within_sampling_passes() -> None:
    train = np.random.default_rng(4).normal(100.0, 20.0, 300)
    moved = train.copy()
    moved[0] += 5.0
    assert target_shift_guard(train, moved, float(train.mean()), 20.0, 100) is None


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.floats(-50.0, 50.0),
    st.floats(0.0, 1.0),
    st.integers(1, 1000),
    st.floats(0.0, 3.0),
)
def test_a_move_toward_the_reference_is_never_refused(
    seed: int, reference: float, step: float, reference_rows: int, z: float
) -> None:
    """Repairs that carry every target part of the way toward the reference mean
    never move the mean away from it."""
    before = np.random.default_rng(seed).normal(0.0, 30.0, 60)
    after = before + step * (reference - before)
    assert target_shift_guard(before, after, reference, 10.0, reference_rows, z=z) is None
