"""The verifier agrees with real retrains: to first order for a change of one row,
exactly for a mend that rescales its column."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mendb.repair.evidence import classifier, fit_quietly
from mendb.repair.proposals import RepairProposal
from mendb.repair.verify import TOLERANCE, Verifier
from mendb.valuation import Split, TrainingArrays
from mendb.valuation.preprocess import prepare


def dataset(seed: int = 0) -> TrainingArrays:
    rng = np.random.default_rng(seed)

    def split(n: int) -> Split:
        y = rng.integers(0, 3, n)
        x = rng.normal(size=(n, 4)) + np.eye(3, 4)[y] * 2.0
        return Split(x, y, np.arange(n).astype(object))

    return TrainingArrays(
        split(150), split(80), split(40), ("a", "b", "c"), ("f0", "f1", "f2", "f3")
    )


def retrained_utility(raw: TrainingArrays) -> float:
    data = prepare(raw)
    model = classifier()
    fit_quietly(model, data.train.x, data.train.y)
    proba = model.predict_proba(data.valid.x)
    return float(np.mean(np.log(proba[np.arange(len(data.valid)), data.valid.y])))


def test_first_order_deltas_track_real_retrains() -> None:
    raw = dataset()
    base = retrained_utility(raw)
    proposals, real = [], []
    for row in range(0, 150, 10):
        new_label = (int(raw.train.y[row]) + 1) % 3
        y = raw.train.y.copy()
        y[row] = new_label
        real.append(retrained_utility(replace(raw, train=replace(raw.train, y=y))) - base)
        proposals.append(
            RepairProposal(
                str(row),
                "label",
                raw.classes[int(raw.train.y[row])],
                raw.classes[new_label],
                "label",
                "test",
                0.9,
            )
        )
    predicted = [p.verification["delta"] for p in Verifier("label").fit(raw).verify(proposals)]
    assert np.corrcoef(predicted, real)[0, 1] > 0.95
    assert np.allclose(predicted, real, atol=4e-3)
    clear = [(p, r) for p, r in zip(predicted, real, strict=True) if abs(r) > 5e-3]
    assert clear and all(np.sign(p) == np.sign(r) for p, r in clear)


def test_unknown_rows_and_labels_are_unverifiable() -> None:
    raw = dataset(1)
    proposals = [
        RepairProposal("999", "label", "a", "b", "label", "t", 0.5),
        RepairProposal("3", "label", "a", "zzz", "label", "t", 0.5),
    ]
    verdicts = [p.verification["verdict"] for p in Verifier("label").fit(raw).verify(proposals)]
    assert verdicts == ["unverifiable", "unverifiable"]


def mend_of_a_stretched_cell(
    seed: int, column: int
) -> tuple[TrainingArrays, TrainingArrays, RepairProposal]:
    """(clean, broken, the mend): one training cell 100 times too large, which
    stretches its column's standard deviation several-fold."""
    clean = dataset(seed)
    x = clean.train.x.copy()
    x[7, column] *= 100
    broken = replace(clean, train=replace(clean.train, x=x))
    name = clean.feature_names[column]
    mend = RepairProposal(
        "7", name, str(x[7, column]), str(clean.train.x[7, column]), "numeric", "range", 0.9
    )
    return clean, broken, mend


def test_a_mend_that_rescales_its_column_is_retrained_exactly() -> None:
    # Mending the cell rescales the column for every row: a first-order step from
    # the one row saw a hundredth of the change and called it noise.
    clean, broken, mend = mend_of_a_stretched_cell(2, column=0)
    (checked,) = Verifier("label").fit(broken).verify([mend])
    real = retrained_utility(clean) - retrained_utility(broken)
    assert "retrained" in checked.verification["utility"]
    assert checked.verification["delta"] == pytest.approx(real, abs=1e-3)
    assert real > 0.1 and checked.verification["verdict"] == "improves"


def test_a_retrained_change_within_the_validation_noise_is_neutral() -> None:
    # f3 carries no class signal: mending it moves the validation likelihood by
    # chance alone, up or down, and the verdict should not take a side.
    deltas = []
    for seed in range(5):
        _, broken, mend = mend_of_a_stretched_cell(seed, column=3)
        (checked,) = Verifier("label").fit(broken).verify([mend])
        assert checked.verification["verdict"] == "neutral"
        deltas.append(checked.verification["delta"])
    assert max(abs(d) for d in deltas) > 10 * TOLERANCE
