"""The judges' per-row losses against sklearn and hand computation, and the backward
noise correction against its exact expectation over every recorded label."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, log_loss

from mendb.valuation.data import Split
from mendb.valuation.evaluate import fit_predict
from mendb.valuation.judge import (
    MAX_CONDITION,
    PROBABILITY_FLOOR,
    Measurement,
    correction,
    fit_model,
    measure,
    paired_change,
)


def split(n: int, seed: int, n_classes: int = 3) -> Split:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    x = rng.normal(size=(n, 2)) + y[:, None]
    return Split(x, y.astype(np.int64), np.arange(n).astype(object))


def random_probabilities(n: int, k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=n)


TRANSITION = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.0, 0.3, 0.7]])


def test_probabilities_cover_every_class_and_predict_as_evaluate_does() -> None:
    train, valid = split(60, 1), split(40, 2)
    model = fit_model(train, n_classes=4)
    p = model.probabilities(valid.x)
    assert p.shape == (40, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # class 3 never appears in training: it keeps only the floor
    assert np.all(p[:, 3] <= PROBABILITY_FLOOR)
    np.testing.assert_array_equal(
        Measurement.of(model, valid).predictions(), fit_predict(train, valid)
    )


def test_one_class_training_predicts_it_with_finite_log_loss() -> None:
    train, valid = split(10, 3), split(20, 4)
    lone = Split(train.x, np.full(10, 2, dtype=np.int64), train.keys)
    measured = measure(lone, valid, n_classes=3)
    assert np.all(measured.predictions() == 2)
    assert np.isfinite(measured.row_log_loss()).all()
    assert measured.row_log_loss().max() == pytest.approx(-np.log(PROBABILITY_FLOOR), rel=1e-4)


def test_one_fit_measures_several_splits() -> None:
    train, valid, test = split(50, 5), split(30, 6), split(30, 7)
    model = fit_model(train, 3, seed=2)
    for part in (valid, test):
        np.testing.assert_array_equal(
            Measurement.of(model, part).probabilities, measure(train, part, 3, 2).probabilities
        )


def test_uncorrected_means_are_the_usual_figures() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 0, 1, 0])
    p = random_probabilities(10, 3, seed=8)
    measured = Measurement(p, labels, 3)
    predicted = p.argmax(axis=1)
    scores = measured.scores()
    assert scores.log_loss == pytest.approx(log_loss(labels, p, labels=[0, 1, 2]))
    assert scores.balanced_accuracy == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert scores.accuracy == pytest.approx(np.mean(predicted == labels))
    brier = np.mean([np.sum((p[i] - np.eye(3)[labels[i]]) ** 2) for i in range(10)])
    assert scores.brier == pytest.approx(brier)
    assert scores.macro_f1 == pytest.approx(
        f1_score(labels, predicted, labels=[0, 1, 2], average="macro")
    )
    assert not scores.corrected and scores.rows == 10


def test_balanced_error_weights_each_present_class_equally() -> None:
    # class 1 is absent: the other two classes weigh half each
    labels = np.array([0, 0, 0, 2])
    p = np.array([[0.1, 0.1, 0.8], [0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.1, 0.1, 0.8]])
    measured = Measurement(p, labels, 3)
    np.testing.assert_allclose(measured.class_weights(), [1 / (2 * 0.75), 0.0, 1 / (2 * 0.25)])
    # class 0 recall 2/3, class 2 recall 1
    assert 1 - measured.row_balanced_error().mean() == pytest.approx((2 / 3 + 1) / 2)


@pytest.mark.parametrize("loss", ["row_log_loss", "row_brier", "row_error", "row_balanced_error"])
def test_corrected_loss_is_unbiased_over_every_recorded_label(loss: str) -> None:
    p = random_probabilities(4, 3, seed=9)
    prior = np.array([0.5, 0.3, 0.2])
    for true in itertools.product(range(3), repeat=4):
        true_labels = np.array(true)
        clean = getattr(Measurement(p, true_labels, 3), loss)()
        if loss == "row_balanced_error":  # weights from the clean prior, by hand
            weights = 1 / (3 * prior)
            clean = weights[true_labels] * (p.argmax(axis=1) != true_labels)
        expected = np.zeros(4)
        for i in range(4):
            for recorded in range(3):
                labels = true_labels.copy()
                labels[i] = recorded
                noisy = Measurement(p, labels, 3, transition=TRANSITION, prior=prior)
                expected[i] += TRANSITION[true[i], recorded] * getattr(noisy, loss)()[i]
        np.testing.assert_allclose(expected, clean, atol=1e-12)


def test_identity_noise_changes_nothing() -> None:
    p, labels = random_probabilities(12, 3, seed=10), np.array([0, 1, 2] * 4)
    plain = Measurement(p, labels, 3).scores()
    identity = Measurement(p, labels, 3, transition=np.eye(3)).scores()
    for name in ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "brier"):
        assert getattr(identity, name) == pytest.approx(getattr(plain, name))
    assert identity.corrected and identity.blend == 0.0


def test_correction_undoes_under_reporting_of_the_minority_on_average() -> None:
    # 40 % of the minority (class 1) recorded as the majority
    transition = np.array([[1.0, 0.0], [0.4, 0.6]])
    rng = np.random.default_rng(11)
    true = (rng.random(20_000) < 0.26).astype(np.int64)
    recorded = np.where((true == 1) & (rng.random(20_000) < 0.4), 0, true)
    p = np.where(true[:, None] == 1, [0.3, 0.7], [0.8, 0.2])
    clean = Measurement(p, true, 2).scores()
    naive = Measurement(p, recorded, 2).scores()
    fixed = Measurement(p, recorded, 2, transition=transition).scores()
    assert abs(fixed.log_loss - clean.log_loss) < abs(naive.log_loss - clean.log_loss) / 5
    assert abs(fixed.balanced_accuracy - clean.balanced_accuracy) < 0.02


@pytest.mark.parametrize(
    "transition",
    [np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([[0.5, 0.5], [0.49, 0.51]])],
    ids=["singular", "near-singular"],
)
def test_ill_conditioned_noise_is_blended_toward_the_identity(transition: np.ndarray) -> None:
    fixed = correction(transition)
    assert 0 < fixed.blend < 1
    assert np.linalg.cond(np.linalg.inv(fixed.inverse)) <= MAX_CONDITION * (1 + 1e-9)
    scores = Measurement(
        random_probabilities(6, 2, 12), np.array([0, 1, 0, 1, 1, 0]), 2, transition=transition
    ).scores()
    assert scores.blend == fixed.blend
    assert all(np.isfinite([scores.log_loss, scores.brier, scores.balanced_accuracy]))


def test_a_well_conditioned_noise_model_is_inverted_exactly() -> None:
    fixed = correction(TRANSITION)
    assert fixed.blend == 0.0
    np.testing.assert_allclose(fixed.inverse @ TRANSITION, np.eye(3), atol=1e-12)


def test_a_transition_whose_rows_are_not_distributions_is_refused() -> None:
    with pytest.raises(ValueError, match="summing to 1"):
        correction(np.array([[0.9, 0.2], [0.1, 0.9]]))


def test_paired_change_is_the_mean_difference_and_its_standard_error() -> None:
    before, after = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 1.0, 3.0, 3.0])
    change = paired_change(before, after)
    differences = after - before
    assert change.mean == pytest.approx(differences.mean())
    assert change.se == pytest.approx(np.std(differences, ddof=1) / 2)
    assert change.rows == 4
    assert paired_change(before[:1], after[:1]).se == np.inf
    with pytest.raises(ValueError, match="differ in shape"):
        paired_change(before, after[:3])


def regression_split(n: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ np.array([3.0, -1.0, 0.5]) + rng.normal(scale=0.5, size=n)
    return Split(x, y, np.arange(n).astype(object))


def test_regression_errors_match_sklearn() -> None:
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    from mendb.valuation.judge_regression import RIDGE_ALPHA, measure_errors

    train, valid = regression_split(80, 0), regression_split(30, 1)
    measured = measure_errors(train, valid)
    expected = Ridge(alpha=RIDGE_ALPHA).fit(train.x, train.y).predict(valid.x)
    assert np.allclose(measured.predictions, expected)
    scores = measured.scores()
    assert scores.mse == pytest.approx(mean_squared_error(valid.y, expected))
    assert scores.rmse == pytest.approx(np.sqrt(mean_squared_error(valid.y, expected)))
    assert scores.mae == pytest.approx(mean_absolute_error(valid.y, expected))
    assert np.allclose(measured.row_squared_error(), (expected - valid.y) ** 2)
    assert np.allclose(measured.row_absolute_error(), np.abs(expected - valid.y))


def test_the_ridge_learns_a_target_that_spans_decades_on_its_value_scale() -> None:
    """A price is multiplicative: the ridge fits asinh(y / m) and predicts y; the
    user's regressor still learns y itself."""
    from sklearn.linear_model import Ridge
    from sklearn.neighbors import KNeighborsRegressor

    from mendb.valuation.judge_regression import RIDGE_ALPHA, measure_errors
    from mendb.valuation.models import ModelSpec
    from mendb.valuation.target_scale import TargetScale

    train, valid = regression_split(80, 0), regression_split(30, 1)
    train = Split(train.x, np.exp(train.y), train.keys)
    valid = Split(valid.x, np.exp(valid.y), valid.keys)
    scale = TargetScale(0.5)
    measured = measure_errors(train, valid, scale=scale)
    fitted = Ridge(alpha=RIDGE_ALPHA).fit(train.x, np.arcsinh(train.y / 0.5))
    assert np.allclose(measured.predictions, np.sinh(fitted.predict(valid.x)) * 0.5)
    assert np.allclose(measured.targets, valid.y)  # errors are measured on y
    spec = ModelSpec("sklearn.neighbors:KNeighborsRegressor", {"n_neighbors": 3})
    expected = KNeighborsRegressor(n_neighbors=3).fit(train.x, train.y).predict(valid.x)
    assert np.allclose(measure_errors(train, valid, model=spec, scale=scale).predictions, expected)


def test_the_users_regressor_is_fitted_for_judging() -> None:
    from sklearn.neighbors import KNeighborsRegressor

    from mendb.valuation.judge_regression import measure_errors
    from mendb.valuation.models import ModelSpec

    train, valid = regression_split(60, 2), regression_split(20, 3)
    spec = ModelSpec("sklearn.neighbors:KNeighborsRegressor", {"n_neighbors": 3})
    expected = KNeighborsRegressor(n_neighbors=3).fit(train.x, train.y).predict(valid.x)
    assert np.allclose(measure_errors(train, valid, model=spec).predictions, expected)


def test_paired_squared_errors_are_the_mse_change() -> None:
    from mendb.valuation.judge_regression import ErrorMeasurement

    targets = np.array([1.0, 2.0, 4.0])
    before = ErrorMeasurement(np.array([2.0, 2.0, 2.0]), targets)
    after = ErrorMeasurement(np.array([1.0, 2.0, 3.0]), targets)
    change = paired_change(before.row_squared_error(), after.row_squared_error())
    assert change.mean == pytest.approx(after.scores().mse - before.scores().mse)
    assert change.mean == pytest.approx((0 + 0 + 1) / 3 - (1 + 0 + 4) / 3)
    assert before.scores().rmse == pytest.approx(np.sqrt(5 / 3))
    assert after.scores().mae == pytest.approx(1 / 3)
    empty = ErrorMeasurement(np.zeros(0), np.zeros(0)).scores()
    assert empty.rows == 0 and np.isnan(empty.rmse)
    with pytest.raises(ValueError, match="same single column"):
        ErrorMeasurement(np.zeros(2), np.zeros(3))


def test_the_users_classifier_must_give_probabilities() -> None:
    from mendb.valuation.models import InvalidModel, ModelSpec

    train = split(60, 4)
    fitted = fit_model(train, 3, model=ModelSpec("sklearn.tree:DecisionTreeClassifier"))
    assert fitted.probabilities(train.x).shape == (60, 3)
    with pytest.raises(InvalidModel, match="predict_proba"):
        fit_model(train, 3, model=ModelSpec("sklearn.svm:LinearSVC"))
