"""The label expert's reference classifier: regularised as much as cross-validated
log-loss asks, so its tails are not sharper than the reference rows support, and
it says when the features do not predict the label at all; the label expert then
gives no relabel any confidence."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mendb.repair.evidence import class_probabilities
from mendb.repair.proposals import RepairContext
from mendb.repair.reference_model import reference_model
from mendb.repair.repairers.label import LabelRepairer
from mendb.valuation.data import Split, TrainingArrays
from mendb.valuation.result import ValuationResult


def _logistic_rows(
    n: int, informative: int, noise: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Rows whose label is drawn from a known logistic model on the first
    `informative` columns; the other columns are noise. Returns x, y and the true
    P(y = 1 | x)."""
    x = rng.normal(size=(n, informative + noise))
    true = 1.0 / (1.0 + np.exp(-x[:, :informative].sum(axis=1)))
    return x, (rng.random(n) < true).astype(np.int64), true


def test_features_that_predict_nothing_are_said_to() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12))
    y = (rng.random(300) < 0.1).astype(np.int64)
    model = reference_model(x, y, x[:5], 2)
    assert not model.predicts
    # Regularised toward the base rate: no row is given near-certainty either way.
    assert np.all(model.probabilities[:, 1] > 0.02)
    assert np.all(model.probabilities[:, 1] < 0.4)


def test_features_that_predict_the_label_are_said_to() -> None:
    x, y, _ = _logistic_rows(300, 3, 0, np.random.default_rng(1))
    assert reference_model(x, y, x[:5], 2).predicts


def test_a_small_noisy_reference_gets_tails_no_sharper_than_the_truth() -> None:
    """Few rows, many useless columns: the fixed C = 1 model is overconfident in
    its tails; the cross-validated one is closer to the true probabilities."""
    rng = np.random.default_rng(2)
    x, y, _ = _logistic_rows(200, 2, 30, rng)
    queries, _, true = _logistic_rows(4000, 2, 30, rng)
    fixed = class_probabilities(x, y, queries, 2)[:, 1]
    chosen = reference_model(x, y, queries, 2)
    assert chosen.strength < 1.0
    tail = fixed < 0.02  # where a fixed model calls class 1 nearly impossible
    assert tail.sum() > 50
    assert true[tail].mean() > 3 * fixed[tail].mean()
    assert np.mean(np.abs(chosen.probabilities[:, 1] - true)) < np.mean(np.abs(fixed - true))


def test_a_single_class_reference_is_no_evidence() -> None:
    x = np.random.default_rng(3).normal(size=(20, 2))
    model = reference_model(x, np.zeros(20, np.int64), x[:3], 2)
    assert not model.predicts
    assert np.all(model.probabilities[:, 0] == 1.0)


def test_without_signal_the_label_expert_proposes_with_no_confidence() -> None:
    """Labels independent of the features, 15 % of them flipped: whatever the
    noise model fitted, no relabel may be acted on."""
    rng = np.random.default_rng(4)
    n = 400
    x = rng.normal(size=(n, 6))
    y = (rng.random(n) < 0.3).astype(np.int64)
    flips = rng.choice(n, 60, replace=False)
    y[flips] = 1 - y[flips]
    keys = np.array([str(i) for i in range(n)], dtype=object)
    empty = Split(x[:0], y[:0], keys[:0])
    data = TrainingArrays(Split(x, y, keys), empty, empty, ("0", "1"), tuple("abcdef"))
    values = np.full(n, 0.01)
    values[flips] = -0.01
    context = RepairContext(data, ValuationResult.exact(keys, values, "test", {}), flips, "label")
    proposals = LabelRepairer().propose(context)
    assert proposals  # shown to a person, with the reason in the evidence
    assert all(p.confidence == 0.0 for p in proposals)
    assert all(p.evidence["label_signal"] <= 1.645 for p in proposals)


def test_a_big_reference_is_subsampled_by_class(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past MAX_ROWS the model learns from a stratified subsample: every class
    keeps its share, and a class of one row is kept."""
    from mendb.repair import reference_model as module

    y = np.concatenate([np.zeros(900, np.int64), np.ones(99, np.int64), [2]])
    kept = module._stratified_subsample(y, 200, np.random.default_rng(0))
    assert np.bincount(y[kept]).tolist() == [180, 20, 1]
    monkeypatch.setattr(module, "MAX_ROWS", 300)
    x, y, _ = _logistic_rows(3000, 2, 0, np.random.default_rng(6))
    model = module.reference_model(x, y, x[:4], 2)
    assert model.predicts and model.resampled.shape == (module.RESAMPLES, 4, 2)
