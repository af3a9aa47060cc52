"""Numeric repair: only the offending cell, estimated from trusted rows of the same
label that are nearest on the other features (the median of their values).

The confidence falls as the donors disagree: 1 / (1 + spread), with the spread the
donors' MAD over the column's MAD among trusted rows.

A value off by a power of ten (a slipped decimal point, cents for dollars, a unit
mix-up) is the commonest broken number. When the old value lies far outside its
column's range (`repair.evidence.fence_distance`) and times 10^k (k = -3..3, the
smallest such shift) lands within three column MADs of the donors' median, that is
proposed instead: it restores the cell exactly rather than approximately. Its
confidence falls from 1 at the median to 0.5 at three MADs (1 - distance / 6): a
power of ten landing that close by chance is unlikely.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mendb.repair.evidence import mad, nearest, trusted_or_all
from mendb.repair.proposals import Column, DiagnosisKind, RepairContext, RepairProposal


class NeighbourNumericRepairer:
    name = "numeric_neighbours"

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def propose(self, context: RepairContext) -> list[RepairProposal]:
        diagnoses = [
            *context.diagnosed(DiagnosisKind.NUMERIC),
            *context.diagnosed(DiagnosisKind.MISSING),
        ]
        proposals = []
        for diagnosis in diagnoses:
            column = context.column(diagnosis.column)
            estimate, spread, donors = self._estimate(context, column, diagnosis.index)
            if estimate is None:
                continue
            old = column.values[diagnosis.index]
            confidence = 1.0 / (1.0 + spread)
            evidence = {**diagnosis.evidence.as_json(), "donors": donors}
            shifted = (
                _decimal_shift(old, estimate, self._scale(context, column))
                if diagnosis.evidence.beyond_range is not None
                else None
            )
            if shifted is not None:
                estimate, distance, power = shifted
                confidence = max(confidence, 1.0 - distance / 6.0)
                evidence["decimal_shift"] = f"x10^{power}"
            proposals.append(
                RepairProposal(
                    row_key=str(context.data.train.keys[diagnosis.index]),
                    column=column.name,
                    old_value=None if np.isnan(old) else format_number(old, column.type_name),
                    new_value=format_number(estimate, column.type_name),
                    kind=diagnosis.kind,
                    repairer=self.name,
                    confidence=round(confidence, 6),
                    evidence=evidence,
                )
            )
        return proposals

    def _estimate(
        self, context: RepairContext, column: Column, index: int
    ) -> tuple[float | None, float, list[str]]:
        data = context.data
        values = column.values
        pool = trusted_or_all(context.trusted(), context.suspects)
        pool = pool[np.isfinite(values[pool])]
        same = pool[data.train.y[pool] == data.train.y[index]]
        pool = same if len(same) >= self.k else pool
        if len(pool) == 0:
            return None, 0.0, []
        others = _other_features(data.feature_names, column.name)
        x = data.train.x[:, others]
        _, found = nearest(x[[index]], x[pool], self.k)
        donors = pool[found[0]]
        # Twelve significant digits: the median of 0.43 and 0.48 reads 0.455 in the
        # audit table, not its binary neighbour 0.45499999999999996.
        estimate = float(f"{np.median(values[donors]):.12g}")
        scale = mad(values[pool]) or 1.0
        spread = mad(values[donors]) / scale
        return estimate, float(spread), [str(data.train.keys[d]) for d in donors]

    def _scale(self, context: RepairContext, column: Column) -> float:
        pool = trusted_or_all(context.trusted(), context.suspects)
        values = column.values[pool]
        return mad(values[np.isfinite(values)]) or 1.0


def _decimal_shift(old: float, estimate: float, scale: float) -> tuple[float, float, int] | None:
    """(old * 10^k, its distance from the estimate in column MADs, k) for the
    smallest shift |k| that brings the old value within three MADs of the
    estimate, when the old value itself is not. The smallest shift, not the
    closest landing: near zero, 10^-3 can land closer than the true 10^-2."""
    if not np.isfinite(old) or old == 0 or abs(old - estimate) <= 3 * scale:
        return None
    powers = np.array([-3, -2, -1, 1, 2, 3])
    # Dividing undoes a multiplication to the last bit more often than * 0.01 does.
    candidates = np.where(powers > 0, old * 10.0 ** np.abs(powers), old / 10.0 ** np.abs(powers))
    distances = np.abs(candidates - estimate) / scale
    near = np.flatnonzero(distances <= 3.0)
    if len(near) == 0:
        return None
    best = int(min(near, key=lambda i: (abs(powers[i]), distances[i])))
    return float(candidates[best]), float(distances[best]), int(powers[best])


def _other_features(names: tuple[str, ...], column: str) -> NDArray[np.int64]:
    keep = [j for j, name in enumerate(names) if name != column]
    return np.array(keep, dtype=np.int64)


def format_number(value: float, type_name: str) -> str:
    """The text form PostgreSQL accepts for a number of this column type."""
    if any(t in type_name for t in ("int", "serial")):
        return str(round(value))
    if type_name.startswith("real") or type_name == "float4":
        return str(np.float32(value))
    return repr(float(value))
