"""The loop's decision policy: which judge refuses a round, and properties no
measurement can break (the test split is never read, a worse log-loss or an erased
minority is never kept, a move toward the reference is never refused)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mendb.server.policy import (
    DEFAULT_Z,
    Decision,
    DecisionCode,
    halt,
    judge_round,
    label_shift_guard,
)
from mendb.valuation.data import Split
from mendb.valuation.judge import Measurement, fit_model, paired_change


def confident(labels: np.ndarray, predicted: np.ndarray, sure: float, k: int = 2) -> Measurement:
    """Each row predicts `predicted` with probability `sure`, the rest spread evenly."""
    p = np.full((len(labels), k), (1 - sure) / (k - 1))
    p[np.arange(len(labels)), predicted] = sure
    return Measurement(p, labels, k)


def imbalanced(n_major: int, n_minor: int) -> np.ndarray:
    return np.array([0] * n_major + [1] * n_minor)


def test_a_round_that_improves_everywhere_is_kept() -> None:
    labels = imbalanced(60, 40)
    decision = judge_round(
        confident(labels, labels, 0.7), confident(labels, labels, 0.9), z=DEFAULT_Z, min_gain=0.0
    )
    assert decision.code is DecisionCode.KEPT and decision.keep and not decision.stop
    assert decision.figures["log_loss_change"] == pytest.approx(np.log(0.7) - np.log(0.9))
    assert "validation log-loss 0.357 -> 0.105" in decision.reason
    assert decision.reason.endswith("the round was kept")


def test_a_round_that_changes_nothing_is_not_better() -> None:
    labels = imbalanced(60, 40)
    same = confident(labels, labels, 0.8)
    decision = judge_round(same, same, z=DEFAULT_Z, min_gain=0.0)
    assert decision.code is DecisionCode.LOG_LOSS_NOT_BETTER
    assert not decision.keep and decision.stop
    assert "log-loss" in decision.reason and decision.reason.endswith("reverted")


def test_a_gain_beyond_its_margin_but_below_the_minimum_is_refused() -> None:
    labels = imbalanced(60, 40)
    decision = judge_round(
        confident(labels, labels, 0.80), confident(labels, labels, 0.81), z=2.0, min_gain=0.05
    )
    assert decision.code is DecisionCode.GAIN_BELOW_MIN and not decision.keep
    assert "minimum 0.05" in decision.reason


def test_a_fall_in_balanced_accuracy_refuses_even_a_better_log_loss() -> None:
    labels = imbalanced(60, 40)
    before = confident(labels, labels, 0.51)
    # the minority flips to the majority, barely; the majority becomes near certain
    predicted = np.zeros(100, dtype=int)
    p = np.where(labels[:, None] == 0, [0.999, 0.001], [0.51, 0.49])
    after = Measurement(p, labels, 2)
    assert np.array_equal(after.predictions(), predicted)
    assert after.scores().log_loss < before.scores().log_loss
    decision = judge_round(before, after, z=DEFAULT_Z, min_gain=0.0)
    assert decision.code is DecisionCode.BALANCED_ACCURACY_FELL and not decision.keep
    assert "balanced accuracy 1.000 -> 0.500" in decision.reason


def test_no_validation_rows_decide_nothing() -> None:
    empty = Measurement(np.zeros((0, 2)), np.zeros(0, dtype=int), 2)
    decision = judge_round(empty, empty, z=DEFAULT_Z, min_gain=0.0)
    assert decision.code is DecisionCode.NO_VALIDATION_ROWS and not decision.keep


def test_a_negative_margin_is_refused() -> None:
    labels = imbalanced(6, 4)
    same = confident(labels, labels, 0.7)
    with pytest.raises(ValueError, match="must not be negative"):
        judge_round(same, same, z=-1.0)


def test_one_row_claims_no_margin_even_at_z_zero() -> None:
    labels = np.array([1])
    decision = judge_round(confident(labels, labels, 0.6), confident(labels, labels, 0.9), z=0.0)
    assert decision.code is DecisionCode.LOG_LOSS_NOT_BETTER


def test_rounds_measured_on_different_rows_are_refused() -> None:
    labels = imbalanced(6, 4)
    other = labels[::-1].copy()
    with pytest.raises(ValueError, match="same rows"):
        judge_round(confident(labels, labels, 0.7), confident(other, other, 0.7))


@pytest.mark.parametrize(
    "code",
    [
        DecisionCode.VALUES_UNTRUSTED,
        DecisionCode.NOTHING_TO_PROPOSE,
        DecisionCode.NOTHING_ACCEPTED,
        DecisionCode.MAX_ROUNDS,
    ],
)
def test_halts_stop_without_keeping(code: DecisionCode) -> None:
    decision = halt(code, "why in words")
    assert decision == Decision(code, keep=False, stop=True, reason="why in words", figures={})
    assert str(code) == code.value


def test_the_reason_carries_the_paired_margin() -> None:
    labels = imbalanced(30, 20)
    before, after = confident(labels, labels, 0.8), confident(labels, labels, 0.6)
    decision = judge_round(before, after, z=DEFAULT_Z, min_gain=0.0)
    change = paired_change(before.row_log_loss(), after.row_log_loss())
    assert f"({change.mean:+.3f} +- {change.se:.3f})" in decision.reason
    assert decision.figures["log_loss_se"] == change.se


probabilities = st.integers(0, 2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).dirichlet(np.ones(3), size=40)
)
labels_40 = st.integers(0, 2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).integers(0, 3, 40)
)


@settings(max_examples=60, deadline=None)
@given(probabilities, probabilities, probabilities, probabilities, labels_40, labels_40)
def test_the_test_measurements_never_change_a_decision(
    before: np.ndarray,
    after: np.ndarray,
    test_before: np.ndarray,
    test_after: np.ndarray,
    valid_labels: np.ndarray,
    test_labels: np.ndarray,
) -> None:
    valid = Measurement(before, valid_labels, 3), Measurement(after, valid_labels, 3)
    test = Measurement(test_before, test_labels, 3), Measurement(test_after, test_labels, 3)
    blind = judge_round(*valid, z=DEFAULT_Z, min_gain=0.0)
    seen = judge_round(*valid, z=DEFAULT_Z, min_gain=0.0, test=test)
    swapped = judge_round(*valid, z=DEFAULT_Z, min_gain=0.0, test=(test[1], test[0]))
    assert blind == seen == swapped


@settings(max_examples=80, deadline=None)
@given(
    probabilities,
    probabilities,
    labels_40,
    st.floats(0.0, 3.0),
    st.floats(0.0, 0.1),
)
def test_a_log_loss_rise_beyond_its_margin_is_never_kept(
    before: np.ndarray, after: np.ndarray, labels: np.ndarray, z: float, min_gain: float
) -> None:
    first, second = Measurement(before, labels, 3), Measurement(after, labels, 3)
    change = paired_change(first.row_log_loss(), second.row_log_loss())
    decision = judge_round(first, second, z=z, min_gain=min_gain)
    if change.mean > -z * change.se:
        assert not decision.keep
    if decision.keep:
        assert -change.mean > z * change.se and -change.mean >= min_gain


@settings(max_examples=80, deadline=None)
@given(
    n_major=st.integers(100, 300),
    # Above this share the majority rows a "before" model must miss (for erasing to
    # raise accuracy) make it nearly as poor as the erasing one, a fall the margin
    # rightly cannot tell from noise.
    minor_share=st.floats(0.15, 0.3),
    minor_recall=st.floats(0.7, 1.0),
    sure=st.floats(0.55, 0.999),  # at 0.5 the model is uniform: it erases nothing
    seed=st.integers(0, 2**32 - 1),
)
def test_erasing_a_recognised_minority_is_never_kept_even_when_accuracy_rises(
    n_major: int, minor_share: float, minor_recall: float, sure: float, seed: int
) -> None:
    n_minor = max(20, round(n_major * minor_share / (1 - minor_share)))
    labels = imbalanced(n_major, n_minor)
    rng = np.random.default_rng(seed)
    minor_hits = round(minor_recall * n_minor)
    # enough majority rows missed that erasing the minority raises accuracy
    major_misses = minor_hits + 1 + int(rng.integers(0, max(1, n_major // 10)))
    predicted_before = labels.copy()
    predicted_before[rng.choice(n_major, major_misses, replace=False)] = 1
    predicted_before[n_major + minor_hits :] = 0
    before = confident(labels, predicted_before, 0.6)
    after = confident(labels, np.zeros_like(labels), sure)
    assert after.scores().accuracy > before.scores().accuracy
    assert not judge_round(before, after, z=DEFAULT_Z, min_gain=0.0).keep


def test_a_real_model_that_lost_its_minority_labels_is_not_kept() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.26).astype(np.int64)
    x = rng.normal(size=(600, 2)) + 1.5 * y[:, None]
    train = Split(x[:400], y[:400], np.arange(400).astype(object))
    valid = Split(x[400:], y[400:], np.arange(200).astype(object))
    erased = np.where(train.y == 1, rng.random(400) < 0.3, 0).astype(np.int64)
    model_before = fit_model(train, 2)
    model_after = fit_model(Split(train.x, erased, train.keys), 2)
    before, after = Measurement.of(model_before, valid), Measurement.of(model_after, valid)
    decision = judge_round(before, after, z=DEFAULT_Z, min_gain=0.0)
    assert not decision.keep
    assert decision.code in {DecisionCode.BALANCED_ACCURACY_FELL, DecisionCode.LOG_LOSS_NOT_BETTER}


def test_a_relabel_away_from_the_reference_is_refused() -> None:
    # training already holds fewer minority rows than the trusted reference says
    decision = label_shift_guard(
        np.array([840, 160]), np.array([880, 120]), np.array([0.74, 0.26]), 200, z=DEFAULT_Z
    )
    assert decision is not None and decision.code is DecisionCode.LABEL_SHIFT
    assert not decision.keep and decision.stop
    assert "0.160 -> 0.120" in decision.reason or "0.840 -> 0.880" in decision.reason
    assert decision.figures["squared_distance_change"] > 0


def test_a_relabel_toward_the_reference_passes() -> None:
    assert (
        label_shift_guard(np.array([880, 120]), np.array([840, 160]), np.array([0.74, 0.26]), 200)
        is None
    )


def test_a_small_move_away_within_sampling_passes() -> None:
    # both shares sit within the reference's sampling margin of 100 rows
    assert (
        label_shift_guard(np.array([74, 26]), np.array([75, 25]), np.array([0.74, 0.26]), 100)
        is None
    )
    exact = label_shift_guard(
        np.array([74, 26]), np.array([75, 25]), np.array([0.74, 0.26]), math.inf
    )
    assert exact is None  # the training rows' own sampling still covers it


shares = st.lists(st.integers(1, 500), min_size=3, max_size=3).map(np.array)


@settings(max_examples=100, deadline=None)
@given(shares, shares, shares, st.integers(1, 1000), st.floats(0.0, 3.0))
def test_a_move_toward_the_reference_is_never_refused(
    before: np.ndarray, after: np.ndarray, reference: np.ndarray, rows: int, z: float
) -> None:
    r = reference / reference.sum()
    q_before, q_after = before / before.sum(), after / after.sum()
    distance_before = np.sum((q_before - r) ** 2)
    distance_after = np.sum((q_after - r) ** 2)
    # no class carried past the reference, in the direction it moved
    short_of_it = np.all((q_after - r) * np.sign(q_after - q_before) <= 0)
    decision = label_shift_guard(before, after, r, rows, z=z)
    if distance_after <= distance_before and short_of_it:
        assert decision is None
    else:
        assert decision is None or decision.code is DecisionCode.LABEL_SHIFT


def test_on_noisy_validation_labels_only_the_corrected_judge_keeps_a_real_fix() -> None:
    # 40 % of the minority recorded as the majority, in training and validation alike;
    # the round restores the true training labels
    transition = np.array([[1.0, 0.0], [0.4, 0.6]])
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.26).astype(np.int64)
    x = rng.normal(size=(3000, 2)) + 1.5 * y[:, None]
    recorded = np.where((y == 1) & (rng.random(3000) < 0.4), 0, y)
    keys = np.arange(3000).astype(object)
    before = fit_model(Split(x[:1000], recorded[:1000], keys[:1000]), 2)
    after = fit_model(Split(x[:1000], y[:1000], keys[:1000]), 2)
    noisy = Split(x[1000:], recorded[1000:], keys[1000:])
    clean = Split(x[1000:], y[1000:], keys[1000:])

    def judged(part: Split, transition: np.ndarray | None) -> Decision:
        return judge_round(
            Measurement.of(before, part, transition=transition),
            Measurement.of(after, part, transition=transition),
        )

    truth = judged(clean, None)
    naive = judged(noisy, None)
    corrected = judged(noisy, transition)
    assert truth.keep and not naive.keep and corrected.keep
    assert naive.code is DecisionCode.LOG_LOSS_NOT_BETTER
    assert "corrected validation log-loss" in corrected.reason
    # Forward-corrected, the log-loss is on another scale than the clean one (it
    # scores the recorded labels), but it falls where the clean one falls.
    assert corrected.figures["log_loss_change"] < 0 < naive.figures["log_loss_change"]


def test_before_and_after_must_share_the_noise_model() -> None:
    labels = imbalanced(6, 4)
    noisy = np.array([[0.9, 0.1], [0.2, 0.8]])
    plain = confident(labels, labels, 0.7)
    corrected = Measurement(plain.probabilities, labels, 2, transition=noisy)
    with pytest.raises(ValueError, match="same noise model"):
        judge_round(plain, corrected)


def test_relabels_that_carry_a_class_past_the_reference_are_refused() -> None:
    # A minority recorded at 25 % whose reference share is 9 %: mending it toward 9 %
    # passes, driving it to 2 % does not, though the distance to the reference shrinks.
    before = np.array([750, 250])
    reference = np.array([0.91, 0.09])
    assert label_shift_guard(before, np.array([905, 95]), reference, 400) is None
    refused = label_shift_guard(before, np.array([980, 20]), reference, 400, classes=("no", "yes"))
    assert refused is not None and refused.code is DecisionCode.LABEL_SHIFT
    assert "'yes'" in refused.reason and "past the reference" in refused.reason
    assert not refused.keep and "refused before it was applied" in refused.reason
