"""The batched first-order verifier agrees with real retrains."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from repair.evidence import classifier, fit_quietly
from repair.proposals import RepairProposal
from repair.verify import Verifier
from valuation import Split, TrainingArrays
from valuation.preprocess import prepare


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
    predicted = [p.verification["delta"] for p in Verifier(raw, "label").verify(proposals)]
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
    verdicts = [p.verification["verdict"] for p in Verifier(raw, "label").verify(proposals)]
    assert verdicts == ["unverifiable", "unverifiable"]
