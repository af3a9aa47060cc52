"""What a round's figures are: the relabels by direction, the label shares or the
target's mean before and after against the reference, the validation and test
measurements as `mendb.rounds` stores them, and the verdict a round records. Pure
functions of the round's states and repairs; `server.round_steps` writes them."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np

from mendb.db.repairs import Repair
from mendb.db.rounds import Measured, RoundDecision, Verdict
from mendb.server import operations
from mendb.server.policy import Decision
from mendb.server.round_state import Reference, RoundState
from mendb.valuation.judge import Measurement
from mendb.valuation.judge_regression import ErrorMeasurement
from mendb.valuation.task import Task

Moves = Counter[tuple[str | None, str | None]]  # label repairs by (old label, new label)


def targets_after(state: RoundState, relabelled: list[Repair]) -> np.ndarray:
    """The training targets with the relabels applied (a value that is not a number
    would be refused by the apply; it leaves its row as it is here)."""
    assert state.targets is not None
    targets = state.targets.copy()
    index = {key: i for i, key in enumerate(state.target_keys)}
    for repair in relabelled:
        row = index.get(repair.row_key)
        try:
            value = float(repair.new_value) if repair.new_value is not None else None
        except ValueError:
            value = None
        if row is not None and value is not None and np.isfinite(value):
            targets[row] = value
    return targets


def figures_text(valid: Measurement | ErrorMeasurement) -> str:
    if isinstance(valid, ErrorMeasurement):
        errors = valid.scores()
        return f"validation RMSE {errors.rmse:.4g}, MAE {errors.mae:.4g}"
    scores = valid.scores()
    return (
        f"validation log-loss {scores.log_loss:.4f},"
        f" balanced accuracy {scores.balanced_accuracy:.4f}"
    )


def round_verdict(
    decision: RoundDecision,
    judged: Decision,
    moved: Moves,
    before: RoundState,
    after: RoundState | None,
    reference: Reference,
) -> Verdict:
    return Verdict(
        decision,
        str(judged.code),
        judged.reason,
        operations.jsonable(judged.figures),
        [{"from": a, "to": b, "count": n} for (a, b), n in sorted(moved.items())],
        distributions(before, after, reference),
    )


def with_accepted(verdict: Verdict, accepted: int | None) -> Verdict:
    """A round that waited for review counts what its reviewer accepted."""
    if accepted is None:
        return verdict
    return replace(verdict, accepted=accepted)


def relabels(repairs: list[Repair], label: str) -> Moves:
    """Label repairs counted by direction (old label, new label)."""
    return Counter(
        (r.old_value, r.new_value)
        for r in repairs
        if r.kind == "label" and r.column_name == label
    )


def counts_after(state: RoundState, moved: Moves) -> np.ndarray:
    counts = state.label_counts.astype(np.int64).copy()
    index = {c: i for i, c in enumerate(state.classes)}
    for (old, new), n in moved.items():
        if old in index and new in index:
            counts[index[old]] -= n
            counts[index[new]] += n
    return counts


def direction_text(moved: Moves, shown: int = 5) -> str:
    """The relabels by direction; a numeric target's are one per value, so past a
    few only their number is told."""
    if not moved:
        return "no relabels"
    parts = [f"{n} {a}->{b}" for (a, b), n in sorted(moved.items())]
    more = f" and {len(parts) - shown} more" if len(parts) > shown else ""
    return ", ".join(parts[:shown]) + more


def distributions(
    before: RoundState, after: RoundState | None, reference: Reference
) -> dict[str, Any]:
    if before.task is Task.REGRESSION:
        return _target_means(before, after, reference)
    out = {
        "before": before.shares(),
        "reference": dict(
            zip(before.classes, reference.distribution.round(6).tolist(), strict=True)
        ),
        "reference_kind": reference.validation,
    }
    if after is not None:
        out["after"] = after.shares()
    return out


def _target_means(
    before: RoundState, after: RoundState | None, reference: Reference
) -> dict[str, Any]:
    """A numeric target's training mean before and after, and the reference's."""

    def mean(state: RoundState) -> float | None:
        return None if state.targets is None or not len(state.targets) else float(
            state.targets.mean())  # fmt: skip

    out = {"target_mean_before": mean(before), "target_mean_reference": reference.target_mean,
           "reference_kind": reference.validation}  # fmt: skip
    if after is not None:
        out["target_mean_after"] = mean(after)
    return out


def measured(state: RoundState) -> Measured:
    if isinstance(state.valid, ErrorMeasurement) and isinstance(state.test, ErrorMeasurement):
        valid_errors, test_errors = state.valid.scores(), state.test.scores()
        return Measured(
            valid_rmse=valid_errors.rmse, valid_mae=valid_errors.mae,
            test_rmse=test_errors.rmse, test_mae=test_errors.mae,
        )  # fmt: skip
    assert isinstance(state.valid, Measurement) and isinstance(state.test, Measurement)
    valid, test = state.valid.scores(), state.test.scores()
    return Measured(
        valid=valid.accuracy,
        valid_log_loss=valid.log_loss,
        valid_balanced=valid.balanced_accuracy,
        valid_macro_f1=valid.macro_f1,
        valid_brier=valid.brier,
        test=test.accuracy,
        test_balanced=test.balanced_accuracy,
        test_log_loss=test.log_loss,
    )
