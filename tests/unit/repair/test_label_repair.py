"""The label expert's confidence: a relabel is right when the given label is a
flip and the winner is the true label. A label that is merely unusual where its
row lies is not relabelled with confidence; a flipped one is."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from numpy.typing import NDArray

from mendb.repair.diagnose import diagnose, doubted_label_rows
from mendb.repair.proposals import RepairContext
from mendb.repair.repairers.label import LabelRepairer
from mendb.repair.selection import doubt_pool, select_suspects
from mendb.valuation.data import Split, TrainingArrays
from mendb.valuation.methods.knn_shapley import knn_shapley
from mendb.valuation.preprocess import prepare
from mendb.valuation.result import ValuationResult


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
    assert 0.0 < evidence["noise_rate"] < 0.3
    assert evidence["flip_probability"] < proposals[flipped].evidence["flip_probability"]
    assert proposals[flipped].evidence["transition"] > 0.0
    # The confidence is a lower quantile over the reference model's refits.
    assert proposals[flipped].evidence["posterior"] >= round(proposals[flipped].confidence, 4)


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
    Judged on the mended labels the share of flips falls below even the 2 % still
    flipped, and every later confidence with it; judged on the labels as given
    (relabelled rows with their old label) the source's noise stays in sight."""
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
    mended_rate = as_mended[as_given[0].row_key].evidence["noise_rate"]
    assert mended_rate < len(left) / n
    assert as_given[0].evidence["noise_rate"] > 10 * mended_rate
    given_total, mended_total = (
        sum(p.confidence for p in ps) for ps in (as_given, as_mended.values())
    )
    assert given_total > 5 * mended_total


def _under_reported_minority(seed: int) -> tuple[RepairContext, NDArray[np.int64]]:
    """Two overlapping classes, a quarter minority, 40 % of the training minority
    recorded as the majority and never the reverse; clean validation rows. The
    suspects are found as the service finds them (KNN-Shapley, doubted labels)."""
    rng = np.random.default_rng(seed)

    def rows(n: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        y = (rng.random(n) < 0.25).astype(np.int64)
        return rng.normal(size=(n, 2)) + np.where(y[:, None] == 1, 1.2, -0.4), y

    x, true = rows(800)
    valid_x, valid_y = rows(300)
    y = true.copy()
    minority = np.flatnonzero(true == 1)
    y[rng.choice(minority, int(0.4 * len(minority)), replace=False)] = 0
    keys = np.array([str(i) for i in range(len(y))], dtype=object)
    valid_keys = np.array([f"v{i}" for i in range(len(valid_y))], dtype=object)
    raw = TrainingArrays(
        Split(x, y, keys),
        Split(valid_x, valid_y, valid_keys),
        Split(x[:0], y[:0], keys[:0]),
        ("0", "1"),
        ("a", "b"),
    )
    data = prepare(raw)
    values = knn_shapley(data.train.x, data.train.y, data.valid.x, data.valid.y, 10)
    result = ValuationResult.exact(keys, values, "knn_shapley", {})
    doubted = doubted_label_rows(data, doubt_pool(result, 100), k=10)
    suspects = select_suspects(result, 100, None, doubted)
    context = RepairContext(data, result, suspects, "label", trusted_validation=True)
    return replace(context, diagnoses=diagnose(context)), true


@pytest.mark.parametrize("seed", [0, 1])
def test_under_reporting_never_relabels_the_minority_into_the_majority(seed: int) -> None:
    """With the validation rows trusted, the majority is never recorded as the
    minority (the transition entry is zero), so a minority row lying among the
    majority keeps its label; the under-reported rows are relabelled."""
    context, true = _under_reported_minority(seed)
    proposals = [p for p in LabelRepairer().propose(context) if p.confidence >= 0.5]
    into_majority = [p for p in proposals if p.new_value == "0"]
    assert into_majority == []
    # the wrong ones are majority rows deep in the overlap, where a flip is as likely
    right = [p.new_value == str(true[int(p.row_key)]) for p in proposals]
    assert len(proposals) >= 20 and np.mean(right) >= 0.65
    assert all(0.0 < p.evidence["transition"] < 1.0 for p in proposals)
