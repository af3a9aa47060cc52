"""What a repairer proposes: one new value for one cell, with its reasons; and
what a repairer may look at to propose it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.data import TrainingArrays
from mendb.valuation.result import ValuationResult

REPAIR_KINDS = ("label", "numeric", "missing", "vector", "text")


@dataclass(frozen=True)
class RepairProposal:
    """Set `column` of row `row_key` from `old_value` to `new_value`.

    Values are in PostgreSQL's text form of the column type (what `col::text`
    returns), so the database can compare and assign them exactly. `verification`
    is filled in by `repair.verify` (verdict and utility delta).
    """

    row_key: str
    column: str
    old_value: str | None
    new_value: str | None
    kind: str
    repairer: str
    confidence: float
    evidence: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in REPAIR_KINDS:
            raise ValueError(f"repair kind {self.kind!r} must be one of {REPAIR_KINDS}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} must be between 0 and 1")


@dataclass(frozen=True)
class Column:
    """One feature column's raw training values, as read from the table.

    `values` is (n,) float64 for numeric columns (NaN where null), (n, d) float64
    for vector columns (a NaN row where null), (n,) object for text (None where
    null). `source` names the text column a vector column is the embedding of.
    `type_name` is the column's SQL type, so new values keep its text form.
    """

    name: str
    kind: str
    values: NDArray[Any]
    type_name: str = ""
    source: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    """Why a suspect row (index into `data.train`) is believed to hurt: the kind of
    error, the column it sits in, how strong the evidence is (0..1), and the
    evidence itself."""

    index: int
    kind: str
    column: str
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)


class NeighbourSearch(Protocol):
    """Nearest training rows of some training rows (e.g. pgvector's HNSW index)."""

    def search(
        self, rows: NDArray[np.int64], k: int
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """(distances, indices into data.train), each (len(rows), k), nearest
        first; -1 pads rows with fewer than k neighbours. A row is never its own
        neighbour."""
        ...


class TextEncoder(Protocol):
    """Turns texts into unit vectors (a sentence-transformer, an HTTP endpoint)."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> NDArray[np.float32]: ...


@dataclass(frozen=True)
class RepairContext:
    """What a repairer may look at: the prepared arrays, the valuation, which
    training rows (indices into `data.train`) are suspects, and optionally the raw
    columns, the diagnosis of each suspect, a neighbour index and a text encoder.
    `source_labels` are the training rows' labels as the source gave them, before
    any applied relabel (None: the labels in `data` are those).
    `trusted_validation`: the validation rows' labels are known right (a curated
    table), so their class distribution is the clean one."""

    data: TrainingArrays
    values: ValuationResult
    suspects: NDArray[np.int64]
    label_column: str
    columns: tuple[Column, ...] = ()
    diagnoses: tuple[Diagnosis, ...] | None = None
    neighbours: NeighbourSearch | None = None
    encoder: TextEncoder | None = None
    source_labels: NDArray[np.int64] | None = None
    trusted_validation: bool = False

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"no column {name!r} in the repair context")

    def diagnosed(self, kind: str) -> list[Diagnosis]:
        """The diagnoses of this kind; without diagnoses, every suspect is a
        label suspect (what a label-only caller expects)."""
        if self.diagnoses is None:
            if kind != "label":
                return []
            return [Diagnosis(int(i), "label", self.label_column, 1.0) for i in self.suspects]
        return [d for d in self.diagnoses if d.kind == kind]

    def trusted(self) -> NDArray[np.bool_]:
        """Training rows that valuation says help (valued above its harm threshold)
        and are not suspects."""
        mask = self.values.values > (self.values.harmful_below or 0.0)
        mask[self.suspects] = False
        return mask


class Repairer(Protocol):
    """An expert that proposes fixes for suspect rows; plug in another by
    implementing this (a neighbour vote, a proxy model, an HTTP endpoint...)."""

    name: str

    def propose(self, context: RepairContext) -> list[RepairProposal]: ...
