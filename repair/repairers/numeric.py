"""Numeric repair: only the offending cell, estimated from trusted rows of the same
label that are nearest on the other features (the median of their values).

The confidence falls as the donors disagree: 1 / (1 + spread), with the spread the
donors' MAD over the column's MAD among trusted rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from repair.evidence import nearest, trusted_or_all
from repair.proposals import Column, RepairContext, RepairProposal


class NeighbourNumericRepairer:
    name = "numeric_neighbours"

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def propose(self, context: RepairContext) -> list[RepairProposal]:
        diagnoses = context.diagnosed("numeric") + context.diagnosed("missing")
        proposals = []
        for diagnosis in diagnoses:
            column = context.column(diagnosis.column)
            estimate, spread, donors = self._estimate(context, column, diagnosis.index)
            if estimate is None:
                continue
            old = column.values[diagnosis.index]
            proposals.append(
                RepairProposal(
                    row_key=str(context.data.train.keys[diagnosis.index]),
                    column=column.name,
                    old_value=None if np.isnan(old) else format_number(old, column.type_name),
                    new_value=format_number(estimate, column.type_name),
                    kind=diagnosis.kind,
                    repairer=self.name,
                    confidence=round(1.0 / (1.0 + spread), 6),
                    evidence={**diagnosis.evidence, "donors": donors},
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
        estimate = float(np.median(values[donors]))
        scale = _mad(values[pool]) or 1.0
        spread = _mad(values[donors]) / scale
        return estimate, float(spread), [str(data.train.keys[d]) for d in donors]


def _other_features(names: tuple[str, ...], column: str) -> NDArray[np.int64]:
    keep = [j for j, name in enumerate(names) if name != column]
    return np.array(keep, dtype=np.int64)


def _mad(values: NDArray[np.float64]) -> float:
    return float(np.median(np.abs(values - np.median(values)))) if len(values) else 0.0


def format_number(value: float, type_name: str) -> str:
    """The text form PostgreSQL accepts for a number of this column type."""
    if any(t in type_name for t in ("int", "serial")):
        return str(round(value))
    if type_name.startswith("real") or type_name == "float4":
        return str(np.float32(value))
    return repr(float(value))
