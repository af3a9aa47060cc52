"""Why the propose chain left no proposal (`server.propose.why_none`): the first of
its links that came up empty, in words a user can act on."""

from __future__ import annotations

from mendb.repair.pipeline import ProposeOutcome
from mendb.repair.proposals import Diagnosis, DiagnosisKind
from mendb.server.propose import why_none

LABEL = Diagnosis(3, DiagnosisKind.LABEL, "y", 0.8)


def test_no_suspect_names_the_harm_threshold() -> None:
    reason = why_none(ProposeOutcome(0, (), 0, []), "prices", 0.5, regression=True)
    assert reason.startswith("no row of prices is valued below 0.5 (harmful)")
    assert "contradicted target" in reason
    assert "valued harmful" in why_none(ProposeOutcome(0, (), 0, []), "d", None)


def test_no_diagnosis_gives_the_most_doubted_target_and_asks_for_trusted_rows() -> None:
    nothing = ProposeOutcome(40, (), 0, [])
    untrusted = why_none(nothing, "boston", 0.0, regression=True, most_doubted=0.391)
    assert "none of the 40 rows looked at" in untrusted and "doubted at 0.5" in untrusted
    assert "(the most doubted target: 0.39)" in untrusted
    assert "--validation-table" in untrusted
    trusted = why_none(
        nothing, "boston", 0.0, regression=True, most_doubted=0.391, trusted_validation=True
    )
    assert trusted.endswith("(the most doubted target: 0.39)")
    # A class label's doubt is a vote of its neighbours, calibrated on no rows.
    assert "validation" not in why_none(nothing, "d", 0.0)


def test_diagnosed_rows_without_a_repair_or_with_open_ones() -> None:
    assert why_none(ProposeOutcome(5, (LABEL,), 0, []), "d", 0.0) == (
        "no repair was found for the 1 diagnosed row"
    )
    screened = why_none(ProposeOutcome(5, (LABEL,), 1, []), "d", 0.0)
    assert "open proposal" in screened
