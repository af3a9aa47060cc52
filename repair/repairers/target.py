"""Repair of a regression target, from the evidence of `repair.target`.

A number off by a power of ten (a slipped decimal point, an extra zero) is the
commonest broken target. When the old value times 10^k (k = +-1, +-2, +-3, the
smallest |k| first) lands among the neighbours' targets (between the lowest and
the highest of them), that is proposed: it restores the value exactly, not
approximately. Otherwise the better of the two witnesses is proposed: the
neighbours' median or the out-of-fold prediction, whichever has the smaller
residual scale on the calibration rows.

The confidence is the evidence's `doubt` (how far into the trusted rows' tail the
old value lies, after Benjamini-Hochberg over the training rows): it says the old
value is wrong, whichever value replaces it. A shifted value is proposed only when
it lands within `WITHIN_SCALES` residual scales of either witness's estimate, each
in its own scale, where most sound targets lie; a rule of one scale of the
neighbours alone lost many true restorations (docs/BENCHMARKS.md, "Measurements
behind design choices"): a neighbour search in a mixed feature space (a price among one-hot
columns) can be a poor witness where the model is a good one. Landing elsewhere in
the neighbours' range is by chance as likely as by a slip, so the shift is set
aside (the evidence names it) and the witnesses' estimate proposed, as when no
shift lands: the doubted value is no likelier right for the shift's landing badly,
and a halved confidence that kept the shift would leave the doubted value in place.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mendb.repair.proposals import (
    DiagnosisKind,
    RepairContext,
    RepairProposal,
    TargetEvidence,
)
from mendb.repair.repairers.numeric import format_number
from mendb.repair.target import TargetSettings, assess_targets
from mendb.valuation.data import Task

_POWERS = (1, -1, 2, -2, 3, -3)
WITHIN_SCALES = 2.0


class TargetRepairer:
    """Restores a slipped power of ten, else proposes the witnesses' estimate."""

    name = "target_neighbours_model"

    def __init__(self, k: int = 10, min_doubt: float = 0.5) -> None:
        self.k = k
        self.min_doubt = min_doubt

    def propose(self, context: RepairContext) -> list[RepairProposal]:
        if context.data.task is not Task.REGRESSION:
            return []  # class labels are the label repairer's
        diagnosed = context.diagnosed(DiagnosisKind.LABEL)
        if not diagnosed:
            return []
        assessment = None
        if any(d.evidence.target is None for d in diagnosed):
            assessment = assess_targets(context, TargetSettings(k=self.k))
        proposals = []
        for diagnosis in diagnosed:
            index = diagnosis.index
            evidence = diagnosis.evidence
            if evidence.target is None and assessment is not None:
                evidence = replace(evidence, target=assessment.evidence(index))
            target = evidence.target
            if target is None or target.doubt < self.min_doubt:
                continue
            old = float(context.data.train.y[index])
            new, confidence, how = _proposal_value(old, target)
            proposals.append(
                RepairProposal(
                    row_key=str(context.data.train.keys[index]),
                    column=context.label_column,
                    old_value=format_number(old, context.label_type),
                    new_value=format_number(new, context.label_type),
                    kind=DiagnosisKind.LABEL,
                    repairer=self.name,
                    confidence=round(float(np.clip(confidence, 0.0, 1.0)), 6),
                    evidence={**evidence.as_json(), **how},
                )
            )
        return proposals


def _proposal_value(old: float, target: TargetEvidence) -> tuple[float, float, dict[str, object]]:
    """(new value, confidence, what the evidence adds about the choice)."""
    shifted = decimal_shift(old, target)
    set_aside: dict[str, object] = {}
    if shifted is not None:
        value, power = shifted
        on_scale = target.on_scale
        landing = (
            abs(on_scale(value) - on_scale(target.neighbours_estimate)) / target.neighbours_scale
        )
        model_landing = abs(on_scale(value) - on_scale(target.model_estimate)) / target.model_scale
        # residual scales from each witness's estimate
        landed = {"landing": round(landing, 4), "model_landing": round(model_landing, 4)}
        if min(landing, model_landing) <= WITHIN_SCALES:
            how = {"estimate": "decimal shift", "decimal_shift": f"x10^{power}"}
            return value, target.doubt, {**how, **landed, "within_spread": True}
        set_aside = {"decimal_shift_set_aside": f"x10^{power}", **landed, "within_spread": False}
    if target.model_scale < target.neighbours_scale:
        return target.model_estimate, target.doubt, {"estimate": "model", **set_aside}
    return target.neighbours_estimate, target.doubt, {"estimate": "neighbours", **set_aside}


def decimal_shift(old: float, target: TargetEvidence) -> tuple[float, int] | None:
    """(old * 10^k, k) for the smallest |k| landing between the neighbours' lowest
    and highest targets; None when none does or the old value already lies there."""
    low, high = target.neighbours_range
    if not np.isfinite(old) or old == 0 or low <= old <= high:
        return None
    for power in _POWERS:
        # Dividing undoes a multiplication to the last bit more often than * 0.1 does.
        value = old * 10.0**power if power > 0 else old / 10.0**-power
        value = float(f"{value:.12g}")
        if low <= value <= high:
            return value, power
    return None
