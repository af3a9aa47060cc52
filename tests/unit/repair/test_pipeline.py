"""The propose chain (`repair.pipeline.propose`) on arrays: diagnose, repair, keep
what the table still needs, verify; typed diagnoses and evidence; a verifier that
is fitted apart from its construction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from mendb.repair.diagnose import diagnose
from mendb.repair.pipeline import propose
from mendb.repair.proposals import (
    Column,
    DiagnosisKind,
    Evidence,
    RepairContext,
    RepairProposal,
    TableState,
    VectorProblem,
)
from mendb.repair.repairers import NeighbourNumericRepairer, default_repairers
from mendb.repair.verify import Verifier
from mendb.valuation.data import Split, TrainingArrays
from mendb.valuation.preprocess import prepare
from mendb.valuation.result import ValuationResult


def _broken() -> tuple[RepairContext, TrainingArrays]:
    """Row 3 has a null in f1 and f2 a hundred times too large; row 5 a null in f0."""
    rng = np.random.default_rng(6)
    n = 300
    y = rng.integers(0, 2, n)
    x = rng.normal(50, 5, size=(n, 4)) + 10.0 * y[:, None]
    x[3, 1] = np.nan
    x[3, 2] = x[3, 2] * 100
    x[5, 0] = np.nan
    keys = np.array([str(i) for i in range(n)], dtype=object)
    names = tuple(f"f{j}" for j in range(4))
    raw = TrainingArrays(
        Split(x, y, keys), Split(x[:40], y[:40], keys[:40]), Split(x[:0], y[:0], keys[:0]),
        ("a", "b"), names, np.isnan(x),
    )  # fmt: skip
    values = np.full(n, 0.01)
    values[[3, 5]] = -0.01
    result = ValuationResult.exact(keys, values, "test", {})
    columns = tuple(Column(c, "numeric", x[:, j], "double precision") for j, c in enumerate(names))
    return RepairContext(prepare(raw), result, np.array([3, 5]), "label", columns), raw


class _CountingVerifier(Verifier):
    fits = 0

    def fit(self, raw: TrainingArrays) -> _CountingVerifier:
        type(self).fits += 1
        return super().fit(raw)


def test_the_chain_is_diagnose_then_repairers_then_verification() -> None:
    context, raw = _broken()
    repairers = default_repairers()
    by_hand = replace(context, diagnoses=diagnose(context))
    made = [p for r in repairers for p in r.propose(by_hand)]
    unverified = propose(context, repairers, None, raw=raw).proposals
    assert unverified == made and all(p.verification is None for p in unverified)
    verified = propose(context, repairers, Verifier("label"), raw=raw).proposals
    assert verified == Verifier("label").fit(raw).verify(made)
    assert {(p.row_key, p.column) for p in verified} == {("3", "f1"), ("3", "f2"), ("5", "f0")}


def test_the_verifier_is_fitted_only_when_there_is_something_to_verify() -> None:
    context, raw = _broken()
    _CountingVerifier.fits = 0
    assert propose(context, [], _CountingVerifier("label"), raw=raw).proposals == []
    assert _CountingVerifier.fits == 0
    made = propose(context, [NeighbourNumericRepairer()], _CountingVerifier("label"), raw=raw)
    assert made.proposals
    assert _CountingVerifier.fits == 1


def test_the_table_state_drops_open_rows_and_changes_to_nothing() -> None:
    context, raw = _broken()
    made = propose(context, default_repairers(), None, raw=raw).proposals
    f2 = next(p for p in made if p.column == "f2")
    table = TableState(
        open_rows=frozenset({"5"}),
        cells={"f1": {"3": None}, "f2": {"3": f2.new_value}, "f0": {"5": None}},
    )
    kept = propose(context, default_repairers(), None, raw=raw, table=table).proposals
    # Row 5 has an open repair; row 3's f2 already holds what would be proposed.
    assert [(p.row_key, p.column, p.old_value) for p in kept] == [("3", "f1", None)]


def test_the_table_state_takes_the_old_value_from_the_table_and_orders_by_column() -> None:
    proposals = [
        RepairProposal("2", "b", "x", "1", "numeric", "t", 0.5),
        RepairProposal("1", "a", "x", "2", "numeric", "t", 0.5),
        RepairProposal("4", "b", "x", "3", "numeric", "t", 0.5),
    ]
    table = TableState(cells={"a": {"1": "7"}, "b": {"2": "8"}})
    kept = table.screen(proposals)
    assert [(p.row_key, p.old_value) for p in kept] == [("1", "7"), ("2", "8"), ("4", None)]
    assert TableState().screen(proposals)[0].column == "a"


def test_diagnoses_carry_enum_kinds_and_typed_evidence() -> None:
    context, _ = _broken()
    found = diagnose(context)
    assert all(isinstance(d.kind, DiagnosisKind) for d in found)
    assert sorted((str(d.kind), d.column) for d in found) == [
        ("missing", "f0"), ("missing", "f1"), ("numeric", "f2"),
    ]  # fmt: skip
    (far,) = [d for d in found if d.kind == DiagnosisKind.NUMERIC]
    assert far.evidence.beyond_range is not None and far.evidence.beyond_range > 0
    assert far.evidence.label_disagreement is not None
    assert set(far.evidence.as_json()) == {"z", "z_within_label", "beyond_range",
                                           "label_disagreement"}  # fmt: skip


def test_evidence_is_written_under_the_same_keys() -> None:
    evidence = Evidence(problem=VectorProblem.ALL_ZEROS, unknown_words=("teh",), distance=0.5)
    assert evidence.as_json() == {"problem": "all zeros", "distance": 0.5, "unknown_words": ["teh"]}
    assert Evidence().as_json() == {}


def test_a_proposal_kind_is_one_of_the_diagnosis_kinds() -> None:
    proposal = RepairProposal("1", "a", None, "2", "missing", "t", 0.5)
    assert proposal.kind is DiagnosisKind.MISSING and proposal.kind == "missing"
    with pytest.raises(ValueError, match="repair kind 'mild'"):
        RepairProposal("1", "a", None, "2", "mild", "t", 0.5)  # type: ignore[arg-type]


def test_a_verifier_stores_settings_and_verifies_only_once_fitted() -> None:
    verifier = Verifier("label", tolerance=0.01)
    assert (verifier.label_column, verifier.encoder, verifier.tolerance) == ("label", None, 0.01)
    with pytest.raises(NotFittedError):
        verifier.verify([])
