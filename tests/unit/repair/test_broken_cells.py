"""Rows with hard evidence of a broken cell are found whatever their value, a
legitimate extreme is not, and a value off by a power of ten is put back exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mendb.repair.diagnose import Thresholds, broken_cell_rows, diagnose, doubted_label_rows
from mendb.repair.evidence import fence_distance
from mendb.repair.proposals import Column, RepairContext
from mendb.repair.repairers import NeighbourNumericRepairer
from mendb.repair.selection import doubt_pool, select_suspects
from mendb.valuation.data import Split, TrainingArrays
from mendb.valuation.preprocess import prepare
from mendb.valuation.result import ValuationResult


def test_fence_keeps_heavy_tails_and_sparse_columns_and_flags_a_hundredfold_value() -> None:
    rng = np.random.default_rng(0)
    fence = Thresholds().fence
    tail = rng.lognormal(0.0, 1.0, 1000)  # a legitimate heavy tail
    assert (fence_distance(tail, fence) == 0).all()
    sparse = np.zeros(1000)
    sparse[rng.choice(1000, 8, replace=False)] = rng.integers(1, 17, 8)  # rare pixels
    assert (fence_distance(sparse, fence) == 0).all()
    for column in (tail, sparse):
        broken = column.copy()
        broken[5] = np.max(column[column > 0]) * 100
        flagged = np.flatnonzero(fence_distance(broken, fence) > 0)
        assert flagged.tolist() == [5]


def test_broken_cell_rows_names_nulls_and_far_values_strongest_first() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 2, 300), rng.normal(0, 1, 300)
    a[[7, 40]] = a[[7, 40]] * 100
    a[40] = a[40] * 10  # the farthest of the two
    b[12] = np.nan
    columns = (Column("a", "numeric", a), Column("b", "numeric", b))
    assert broken_cell_rows(columns).tolist() == [40, 7, 12]
    # Where nulls are common, they are the column's nature, not evidence.
    b[:60] = np.nan
    assert broken_cell_rows(columns).tolist() == [40, 7]


def test_evidence_rows_come_first_then_negative_values_within_the_budget() -> None:
    values = ValuationResult.exact(
        np.arange(6).astype(str).astype(object),
        np.array([0.3, -0.2, 0.1, -0.5, 0.2, -0.1]),
        "test",
        {},
    )
    assert select_suspects(values, 10).tolist() == [3, 1, 5]
    evidence = np.array([4, 1])
    assert select_suspects(values, 10, evidence=evidence).tolist() == [4, 1, 3, 5]
    assert select_suspects(values, 3, evidence=evidence).tolist() == [4, 1, 3]
    # Doubted labels come last, once each, within the same budget.
    doubted = np.array([2, 3, 0])
    assert select_suspects(values, 10, evidence, doubted).tolist() == [4, 1, 3, 5, 2, 0]
    assert select_suspects(values, 5, evidence, doubted).tolist() == [4, 1, 3, 5, 2]
    # The pool asked about labels: rows that are not harmful, lowest first.
    assert doubt_pool(values, 10).tolist() == [2, 4, 0]
    assert doubt_pool(values, 0).tolist() == []


def test_flipped_labels_are_doubted_whatever_their_value_and_clean_ones_are_not() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 240)
    x = rng.normal(size=(240, 4)) + 4.0 * np.eye(3, 4)[y]
    flips = np.array([10, 50, 90, 130])
    y[flips] = (y[flips] + 1) % 3
    x[[7, 8]] = x[[8, 7]]  # an exact duplicate pair must not vote for itself
    x[7] = x[8]
    keys = np.arange(240).astype(str).astype(object)
    split = Split(x, y, keys)
    data = prepare(TrainingArrays(split, split, split, ("a", "b", "c"), ("f0", "f1", "f2", "f3")))
    rows = np.arange(240)
    found = doubted_label_rows(data, rows)
    assert set(flips) <= set(found.tolist())
    assert len(found) <= len(flips) + 2  # a clean row is rarely contradicted
    # Only the rows asked about are answered, most doubted first.
    assert doubted_label_rows(data, flips[:2]).tolist() in ([10, 50], [50, 10])
    assert doubted_label_rows(data, np.array([0, 1, 2])).tolist() == []
    assert doubted_label_rows(data, np.zeros(0, dtype=np.int64)).tolist() == []


def _context(x: np.ndarray, y: np.ndarray, suspects: list[int]) -> RepairContext:
    n = len(y)
    keys = np.array([str(i) for i in range(n)], dtype=object)
    names = tuple(f"f{j}" for j in range(x.shape[1]))
    raw = TrainingArrays(
        Split(x, y, keys),
        Split(x[:40], y[:40], keys[:40]),
        Split(x[:0], y[:0], keys[:0]),
        ("a", "b"),
        names,
        np.isnan(x),
    )
    values = np.full(n, 0.01)
    values[suspects] = -0.01
    result = ValuationResult.exact(keys, values, "test", {})
    columns = tuple(Column(name, "numeric", x[:, j], "double precision")
                    for j, name in enumerate(names))  # fmt: skip
    return RepairContext(prepare(raw), result, np.array(suspects), "label", columns)


def test_a_value_off_by_a_power_of_ten_is_restored_exactly() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    x = rng.normal(50, 5, size=(300, 4)) + 10.0 * y[:, None]
    clean = x[3, 2]
    x[3, 2] = clean * 100
    context = _context(x, y, [3])
    context = replace(context, diagnoses=diagnose(context))
    (proposal,) = NeighbourNumericRepairer().propose(context)
    assert proposal.column == "f2"
    assert float(proposal.new_value) == clean
    assert proposal.evidence["decimal_shift"] == "x10^-2"
    assert proposal.confidence > 0.6


def test_a_doubted_label_wins_over_one_unusual_cell() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    x = rng.normal(size=(300, 5)) + 3.0 * y[:, None]
    y[9] = 1 - y[9]  # looks unusual for its new label on every column
    context = _context(x, y, [9])
    (found,) = diagnose(context)
    assert found.kind == "label"


def test_every_broken_cell_of_a_row_is_diagnosed_at_once() -> None:
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 300)
    x = rng.normal(50, 5, size=(300, 4)) + 10.0 * y[:, None]
    x[3, 1] = np.nan
    x[3, 2] = x[3, 2] * 100
    context = _context(x, y, [3])
    found = diagnose(context)
    assert sorted((d.kind, d.column) for d in found) == [("missing", "f1"), ("numeric", "f2")]
    context = replace(context, diagnoses=found)
    repaired = {p.column for p in NeighbourNumericRepairer().propose(context)}
    assert repaired == {"f1", "f2"}


def test_an_imputed_value_reads_as_a_person_would_write_it() -> None:
    """The two nearest rows hold 0.43 and 0.48: the audit table gets 0.455, not the
    binary median 0.45499999999999996."""
    n = 300
    x = np.column_stack([np.arange(n, dtype=float), np.full(n, 0.5), np.zeros(n), np.zeros(n)])
    x[2, 1], x[4, 1] = 0.43, 0.48
    x[3, 1] = np.nan
    context = _context(x, np.zeros(n, dtype=np.int64), [3])
    context = replace(context, diagnoses=diagnose(context))
    (proposal,) = NeighbourNumericRepairer(k=2).propose(context)
    assert (proposal.column, proposal.new_value) == ("f1", "0.455")
