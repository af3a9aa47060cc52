"""What a repairer proposes: one new value for one cell, with its reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from valuation.data import TrainingArrays
from valuation.result import ValuationResult

REPAIR_KINDS = ("label", "numeric", "missing", "vector", "text")


@dataclass(frozen=True)
class RepairProposal:
    """Set `column` of row `row_key` from `old_value` to `new_value`.

    Values are in PostgreSQL's text form of the column type (what `col::text`
    returns), so the database can compare and assign them exactly.
    """

    row_key: str
    column: str
    old_value: str | None
    new_value: str | None
    kind: str
    repairer: str
    confidence: float
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in REPAIR_KINDS:
            raise ValueError(f"repair kind {self.kind!r} must be one of {REPAIR_KINDS}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} must be between 0 and 1")


@dataclass(frozen=True)
class RepairContext:
    """What a repairer may look at: the prepared arrays, the valuation, and which
    training rows (indices into `data.train`) are suspects."""

    data: TrainingArrays
    values: ValuationResult
    suspects: NDArray[np.int64]
    label_column: str


class Repairer(Protocol):
    """An expert that proposes fixes for suspect rows; plug in another by
    implementing this (a neighbour vote, a proxy model, an HTTP endpoint...)."""

    name: str

    def propose(self, context: RepairContext) -> list[RepairProposal]: ...
