"""The class-conditional noise model: confident learning's counts (checked against
cleanlab and by hand), the likeliest transition, the trusted reference's margins,
and the posterior a relabel's confidence is."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from mendb.repair.noise import (
    NoiseModel,
    calibrated_joint,
    confident_joint,
    confident_thresholds,
    estimate_noise,
    most_likely_transition,
    nearest_flows,
    noise_model_for,
)
from mendb.valuation.data import Split, TrainingArrays


def _drawn(
    n: int, k: int, seed: int, concentration: float = 0.3
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Clean-class probabilities and true labels drawn from them."""
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet(np.full(k, concentration), n)
    true = (probabilities.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    return probabilities, np.minimum(true, k - 1)


def _under_reported(
    true: NDArray[np.int64], hidden: int, into: int, share: float, seed: int
) -> NDArray[np.int64]:
    """A `share` of class `hidden` recorded as `into`, never the reverse."""
    rng = np.random.default_rng(seed + 1000)  # not the stream that drew the classes
    rows = np.flatnonzero(true == hidden)
    recorded = true.copy()
    recorded[rng.choice(rows, round(share * len(rows)), replace=False)] = into
    return recorded


def _overlapping_minority(seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Two overlapping Gaussian classes, the minority a quarter of the rows, with
    their exact posterior as the clean probabilities."""
    rng = np.random.default_rng(seed)
    n, share = 4000, 0.25
    true = (rng.random(n) < share).astype(np.int64)
    x = rng.normal(size=n) + np.where(true == 1, 0.8, -0.8)
    minority = 1.0 / (1.0 + np.exp(-(np.log(share / (1 - share)) + 1.6 * x)))
    return np.column_stack([1.0 - minority, minority]), true


def test_the_confident_joint_counts_confident_rows_by_hand() -> None:
    probabilities = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    recorded = np.array([0, 0, 0, 1, 1])
    # thresholds: class 0 over rows recorded 0 = (0.9 + 0.7 + 0.2) / 3 = 0.6;
    # class 1 over rows recorded 1 = (0.4 + 0.7) / 2 = 0.55.
    np.testing.assert_allclose(confident_thresholds(probabilities, recorded), [0.6, 0.55])
    # rows: 0 -> class 0; 1 -> class 0; 2 -> class 1; 3 -> class 0 (0.6 >= 0.6);
    # 4 -> class 1. Recorded 0: two in 0, one in 1; recorded 1: one in 0, one in 1.
    expected = np.array([[2.0, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(confident_joint(probabilities, recorded), expected)
    # calibrated: rows already sum to the recorded sizes (3, 2), total 5.
    np.testing.assert_allclose(calibrated_joint(expected, recorded), expected / 5)


def test_the_confident_joint_is_cleanlabs() -> None:
    count = pytest.importorskip("cleanlab.count")
    for k, seed in ((2, 0), (3, 1), (5, 2)):
        probabilities, true = _drawn(2000, k, seed)
        recorded = _under_reported(true, 1, 0, 0.4, seed)
        counts = confident_joint(probabilities, recorded)
        theirs = count.compute_confident_joint(recorded, probabilities, calibrate=False)
        np.testing.assert_array_equal(counts, theirs)
        # cleanlab rounds the calibrated counts to whole rows: within one row a cell
        joint = count.estimate_joint(recorded, probabilities)
        assert np.abs(calibrated_joint(counts, recorded) - joint).max() <= 1.0 / len(recorded)


def test_the_posterior_is_bayes_rule_on_the_transition() -> None:
    transition = np.array([[0.9, 0.1, 0.0], [0.3, 0.7, 0.0], [0.0, 0.2, 0.8]])
    model = NoiseModel(transition, np.array([0.5, 0.3, 0.2]))
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.4, 0.0], [0.0, 0.0, 1.0]])
    recorded = np.array([0, 1, 0])
    posterior = model.posterior(p, recorded)
    # row 0, recorded 0: T[j, 0] p_j = 0.18, 0.15, 0
    np.testing.assert_allclose(posterior[0], np.array([0.18, 0.15, 0.0]) / 0.33)
    # row 1, recorded 1: 0.06, 0.28, 0
    np.testing.assert_allclose(posterior[1], np.array([0.06, 0.28, 0.0]) / 0.34)
    # row 2: only class 2 is possible and it never records 0; nothing explains it
    np.testing.assert_array_equal(posterior[2], [1.0, 0.0, 0.0])
    assert model.flip_share == pytest.approx(1 - (0.5 * 0.9 + 0.3 * 0.7 + 0.2 * 0.8))


def test_the_likeliest_transition_recovers_one_way_noise() -> None:
    """Labels recorded as the model says: 40 % of class 1 as 0, none the other way.
    Confident counting sees flips both ways where rows are torn between classes;
    the likelihood puts them back where they came from."""
    probabilities, true = _drawn(6000, 3, 4)
    recorded = _under_reported(true, 1, 0, 0.4, 4)
    counted = calibrated_joint(confident_joint(probabilities, recorded), recorded).T
    counted = counted / counted.sum(axis=1, keepdims=True)
    assert counted[0, 1] > 0.02  # a reverse flow that is not there
    start = np.full((3, 3), 0.1) + 0.7 * np.eye(3)
    found = most_likely_transition(probabilities, recorded, start)
    truth = np.array([[1.0, 0.0, 0.0], [0.4, 0.6, 0.0], [0.0, 0.0, 1.0]])
    assert np.abs(found - truth).max() < 0.03
    np.testing.assert_allclose(found.sum(axis=1), 1.0)


def test_nearest_flows_meets_the_net_flows_in_least_squares() -> None:
    # unconstrained by the bounds: the correction is l_j - l_i, l = shortfall / 2K
    start = np.array([[0.0, 0.05, 0.04], [0.03, 0.0, 0.02], [0.06, 0.01, 0.0]])
    net = np.array([0.03, -0.01, -0.02])
    shortfall = net - (start.sum(axis=0) - start.sum(axis=1))
    potential = shortfall / 6
    expected = start + potential[None, :] - potential[:, None]
    np.fill_diagonal(expected, 0.0)
    assert expected[~np.eye(3, dtype=bool)].min() > 0
    np.testing.assert_allclose(nearest_flows(start, net), expected, atol=1e-10)
    # two classes, net flow 0.1 from 0 to 1 against counts of 0.04 and 0.02:
    # adding d to one and taking d from the other needs d = 0.04, which would leave
    # -0.02; the bound holds it at 0 and the forward flow carries all of 0.1.
    flows = nearest_flows(np.array([[0.0, 0.04], [0.02, 0.0]]), np.array([-0.1, 0.1]))
    np.testing.assert_allclose(flows, [[0.0, 0.1], [0.0, 0.0]], atol=1e-10)


def test_a_trusted_reference_makes_under_reporting_one_way() -> None:
    """A trusted table says a quarter of the rows are the minority; the recorded
    labels show fewer. The model carries the reference's prior onto the recorded
    distribution, with no flow from the majority into the minority."""
    probabilities, true = _overlapping_minority(1)
    recorded = _under_reported(true, 1, 0, 0.4, 1)
    reference = np.bincount(true, minlength=2) / len(true)
    model = estimate_noise(probabilities, recorded, reference_prior=reference, reference_rows=10**9)
    np.testing.assert_allclose(model.prior, reference, atol=1e-6)
    recorded_share = np.bincount(recorded, minlength=2) / len(recorded)
    np.testing.assert_allclose(model.prior @ model.transition, recorded_share, atol=1e-9)
    np.testing.assert_allclose(model.transition.sum(axis=1), 1.0)
    assert model.transition[0, 1] == pytest.approx(0.0, abs=1e-9)
    assert model.transition[1, 0] == pytest.approx(0.4, abs=0.03)


def test_a_trusted_reference_keeps_symmetric_noise_both_ways() -> None:
    probabilities, true = _overlapping_minority(2)
    rng = np.random.default_rng(102)  # not the stream that drew the classes
    flipped = rng.random(len(true)) < 0.1
    recorded = np.where(flipped, 1 - true, true)
    reference = np.bincount(true, minlength=2) / len(true)
    model = estimate_noise(probabilities, recorded, reference_prior=reference, reference_rows=1000)
    assert 0.05 < model.transition[0, 1] < 0.15
    assert 0.05 < model.transition[1, 0] < 0.15


def test_a_reference_within_its_sampling_noise_moves_the_prior_little() -> None:
    probabilities, true = _overlapping_minority(3)
    recorded = _under_reported(true, 1, 0, 0.4, 3)
    alone = estimate_noise(probabilities, recorded)
    near = alone.prior + np.array([0.01, -0.01])
    few = estimate_noise(probabilities, recorded, reference_prior=near, reference_rows=20)
    many = estimate_noise(probabilities, recorded, reference_prior=near, reference_rows=10**6)
    assert np.abs(few.prior - alone.prior).max() < 0.002
    np.testing.assert_allclose(many.prior, near, atol=1e-4)
    unused = estimate_noise(probabilities, recorded, reference_prior=near, reference_rows=0)
    np.testing.assert_array_equal(unused.prior, alone.prior)


def _table(trusted_valid: bool) -> tuple[TrainingArrays, NDArray[np.int64]]:
    """Two Gaussian classes in 2-d, a quarter minority; 40 % of the training
    minority recorded as the majority, the validation rows clean."""
    rng = np.random.default_rng(6)

    def rows(n: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        y = (rng.random(n) < 0.25).astype(np.int64)
        return rng.normal(size=(n, 2)) + np.where(y[:, None] == 1, 1.5, -0.5), y

    x, true = rows(1200)
    valid_x, valid_y = rows(400)
    recorded = _under_reported(true, 1, 0, 0.4, 6)
    keys = np.array([str(i) for i in range(len(x))], dtype=object)
    valid_keys = np.array([f"v{i}" for i in range(len(valid_x))], dtype=object)
    data = TrainingArrays(
        Split(x, recorded, keys),
        Split(valid_x, valid_y, valid_keys),
        Split(x[:0], recorded[:0], keys[:0]),
        ("majority", "minority"),
        ("a", "b"),
    )
    return data, recorded


def test_noise_model_for_a_table_with_trusted_validation_rows() -> None:
    data, recorded = _table(trusted_valid=True)
    trusted = noise_model_for(data, recorded, trusted_reference=True)
    valid_share = np.bincount(data.valid.y, minlength=2) / len(data.valid)
    assert np.abs(trusted.prior - valid_share).max() < 0.02
    assert trusted.transition[0, 1] < 0.01  # the majority never recorded as minority
    assert trusted.transition[1, 0] > 0.25
    untrusted = noise_model_for(data, recorded, trusted_reference=False)
    recorded_share = np.bincount(recorded, minlength=2) / len(recorded)
    np.testing.assert_allclose(untrusted.prior @ untrusted.transition, recorded_share, atol=1e-6)
