"""The label expert's confidence: a relabel is right when the given label is a
flip and the winner is the true label. A label that is merely unusual where its
row lies is not relabelled with confidence; a flipped one is."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from numpy.typing import NDArray

from repair.diagnose import diagnose
from repair.proposals import RepairContext
from repair.repairers.label import LabelRepairer, flip_probability, noise_rate
from valuation.data import Split, TrainingArrays
from valuation.preprocess import prepare
from valuation.result import ValuationResult


def test_flip_probability_is_bayes_rule_under_symmetric_noise() -> None:
    p = np.array([0.0, 0.01, 0.2, 0.5, 1.0])
    rate, k = 0.1, 3
    flip = rate * (1 - p) / (k - 1)
    expected = flip / (flip + (1 - rate) * p)
    np.testing.assert_allclose(flip_probability(p, rate, k), expected)
    assert flip_probability(np.array([0.0]), rate, k)[0] == 1.0
    assert flip_probability(np.array([1.0]), rate, k)[0] == 0.0
    ladder = flip_probability(np.linspace(0, 1, 50), rate, k)
    assert np.all(np.diff(ladder) <= 0)  # the likelier the label, the less a flip
    more_noise = flip_probability(np.linspace(0, 1, 50), 0.3, k)
    assert np.all(more_noise >= ladder)


def test_noise_rate_recovers_the_share_of_flips() -> None:
    """Labels drawn as the model says: a true label from the classifier's
    probabilities, then a share of them moved to another class, any alike."""
    rng = np.random.default_rng(0)
    n = 5000
    for share, k in ((0.1, 2), (0.2, 3), (0.1, 10)):
        probabilities = rng.dirichlet(np.full(k, 0.2), n)  # mostly sure, some torn
        true = np.array([rng.choice(k, p=row) for row in probabilities])
        flipped = rng.random(n) < share
        given = np.where(flipped, (true + rng.integers(1, k, n)) % k, true)
        estimate = noise_rate(probabilities[np.arange(n), given], k)
        assert abs(estimate - share) < 0.02, (share, k, estimate)
    assert noise_rate(np.ones(50), 2) == 1 / 50  # no doubt: the floor of one row in n
    assert noise_rate(np.zeros(50), 2) == 0.5  # every label doubted: no majority of flips


@pytest.fixture(scope="module")
def overlapping() -> tuple[RepairContext, int, int]:
    """Two overlapping classes with 10 % of the labels flipped; row 0 is a clean
    class-0 row on class 1's side of the boundary (unusual), row 1 a class-1 row
    deep in its class, flipped to 0."""
    rng = np.random.default_rng(5)
    n = 300
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 2)) + np.where(y[:, None] == 1, 1.2, -1.2)
    x[0], y[0] = (0.35, 0.35), 0
    x[1], y[1] = (2.5, 2.5), 0
    flips = rng.choice(np.arange(2, n), 28, replace=False)
    y[flips] = 1 - y[flips]
    keys = np.array([str(i) for i in range(n)], dtype=object)
    raw = TrainingArrays(
        Split(x, y, keys),
        Split(x[:0], y[:0], keys[:0]),
        Split(x[:0], y[:0], keys[:0]),
        ("0", "1"),
        ("a", "b"),
    )
    suspects = np.concatenate([[0, 1], flips])  # as a valuation would hand them over
    values = np.full(n, 0.01)
    values[suspects] = -0.01
    result = ValuationResult.exact(keys, values, "test", {})
    context = RepairContext(prepare(raw), result, suspects, "label")
    return replace(context, diagnoses=diagnose(context)), 0, 1


def test_a_flip_is_relabelled_with_confidence_an_unusual_label_is_not(overlapping) -> None:  # type: ignore[no-untyped-def]
    context, unusual, flipped = overlapping
    diagnosed = {d.index for d in context.diagnosed("label")}
    assert {unusual, flipped} <= diagnosed  # both look wrong to the neighbours
    proposals = {int(p.row_key): p for p in LabelRepairer().propose(context)}
    assert proposals[flipped].new_value == "1" and proposals[flipped].confidence >= 0.8
    assert proposals[unusual].confidence < 0.6  # the loop's default would not accept it
    evidence = proposals[unusual].evidence
    assert 0.05 < evidence["noise_rate"] < 0.3
    assert evidence["flip_probability"] < proposals[flipped].evidence["flip_probability"]


def _pocket(with_validation: bool) -> RepairContext:
    """Two classes left and right with 10 % of their labels flipped, and a pocket
    above the boundary where the training table has only two rows, both flipped to
    0; the validation rows are clean and include the pocket, where they are 1."""
    rng = np.random.default_rng(3)

    def clusters(n: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        y = np.repeat([0, 1], n // 2)
        centres = np.where(y[:, None] == 1, [2.0, 0.0], [-2.0, 0.0])
        return rng.normal(scale=0.7, size=(n, 2)) + centres, y

    x, y = clusters(300)
    flips = rng.choice(300, 30, replace=False)
    y[flips] = 1 - y[flips]
    x, y = np.concatenate([x, [[0.1, 5.0], [-0.1, 5.2]]]), np.concatenate([y, [0, 0]])
    valid_x, valid_y = clusters(100)
    pocket = rng.normal(scale=0.3, size=(30, 2)) + np.array([0.0, 5.0])
    valid_x, valid_y = (
        np.concatenate([valid_x, pocket]),
        np.concatenate([valid_y, np.ones(30, int)]),
    )
    if not with_validation:
        valid_x, valid_y = valid_x[:0], valid_y[:0]
    keys = np.array([str(i) for i in range(len(y))], dtype=object)
    valid_keys = np.array([f"v{i}" for i in range(len(valid_y))], dtype=object)
    raw = TrainingArrays(
        Split(x, y, keys),
        Split(valid_x, valid_y, valid_keys),
        Split(x[:0], y[:0], keys[:0]),
        ("0", "1"),
        ("a", "b"),
    )
    suspects = np.array([300, 301])
    values = np.full(len(y), 0.01)
    values[suspects] = -0.01
    context = RepairContext(
        prepare(raw), ValuationResult.exact(keys, values, "test", {}), suspects, "label"
    )
    return replace(context, diagnoses=diagnose(context))


def test_the_validation_rows_teach_the_label_expert() -> None:
    """Valuation measures every row against the validation rows, so their labels
    are taken as right: where they say 1 and no trusted training row lives, the
    expert relabels the flipped rows; without them it has no case to make."""
    taught = LabelRepairer().propose(_pocket(with_validation=True))
    assert {p.row_key: p.new_value for p in taught} == {"300": "1", "301": "1"}
    assert all(p.evidence["classifier"]["1"] > 0.8 for p in taught)
    assert LabelRepairer().propose(_pocket(with_validation=False)) == []


def test_the_noise_rate_is_judged_on_the_labels_as_the_source_gave_them() -> None:
    """After an earlier round relabelled the 32 flips deepest in their class, the 8
    left lie near the boundary, where the classifier finds their labels plausible.
    Judged on the mended labels the share of flips falls to its floor, below even
    the 2 % still flipped, and every later confidence with it; judged on the labels
    as given (relabelled rows with their old label) it stays the source's 10 %."""
    rng = np.random.default_rng(0)
    n = 400
    true = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 2)) + 2.0 * true[:, None]
    flips = rng.choice(n, 40, replace=False)
    source = np.where(np.isin(np.arange(n), flips), 1 - true, true)
    deepest_first = flips[np.argsort(-np.abs(x[flips].sum(axis=1) - 2.0))]
    mended, left = deepest_first[:32], deepest_first[32:]
    y = source.copy()
    y[mended] = true[mended]
    keys = np.array([str(i) for i in range(n)], dtype=object)
    empty = Split(x[:0], y[:0], keys[:0])
    raw = TrainingArrays(Split(x, y, keys), empty, empty, ("0", "1"), ("a", "b"))
    values = np.full(n, 0.01)
    values[left] = -0.01
    context = RepairContext(
        prepare(raw), ValuationResult.exact(keys, values, "test", {}), left, "label"
    )
    context = replace(context, diagnoses=diagnose(context))

    as_given = LabelRepairer().propose(replace(context, source_labels=source))
    as_mended = {p.row_key: p for p in LabelRepairer().propose(context)}
    assert {p.row_key for p in as_given} == set(as_mended) == {str(i) for i in left}
    assert all(p.new_value == str(true[int(p.row_key)]) for p in as_given)
    assert 0.07 < as_given[0].evidence["noise_rate"] < 0.14
    assert as_mended[as_given[0].row_key].evidence["noise_rate"] < len(left) / n
    assert all(p.confidence > 5 * as_mended[p.row_key].confidence for p in as_given)
