"""What a repairer proposes: one new value for one cell, with its reasons; and
what a repairer may look at to propose it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from mendb.valuation.errors import MendbError

if TYPE_CHECKING:
    # Types only: the audit layer imports these dataclasses, and the commands that
    # only read the audit table start without the numeric stack.
    import numpy as np
    from numpy.typing import NDArray

    from mendb.valuation.data import TrainingArrays
    from mendb.valuation.result import ValuationResult


class WrongTask(MendbError):
    """This repairer does not mend the labels of this dataset's task."""


class DiagnosisKind(StrEnum):
    """The kind of error a row is diagnosed with, and so of the repair proposed for
    it; stored as its value in `mendb.repairs.kind`."""

    LABEL = "label"  # a class, or a regression target (its evidence says `task`)
    NUMERIC = "numeric"  # a number far outside its column, or unusual for its label
    MISSING = "missing"  # a null number
    VECTOR = "vector"
    TEXT = "text"


class VectorProblem(StrEnum):
    """What is wrong with a vector cell."""

    NULL = "null"
    ALL_ZEROS = "all zeros"
    FAR = "far"  # far from its source text's embedding, or from the trusted rows


@dataclass(frozen=True)
class TargetEvidence:
    """Why a regression target looks wrong (`repair.target`): how far it lies from
    its nearest trusted rows' targets and from a model's out-of-fold prediction, in
    robust scales, and how far into the trusted rows' tail that is."""

    neighbours_estimate: float  # median target of the nearest trusted rows
    neighbours_range: tuple[float, float]  # their lowest and highest target
    neighbours_scale: float  # 1.4826 MAD of the trusted rows' residual to it
    model_estimate: float  # out-of-fold prediction (a robust model, or stored)
    model_scale: float  # 1.4826 MAD of the trusted rows' residual to it
    model: str  # which model predicted
    residual: float  # the smaller of the two residuals, each over its scale
    residual_interval: tuple[float, float]  # bootstrap over the neighbours' targets
    tail_probability: float  # share of trusted rows at least this far (p-value)
    calibration: str  # which trusted rows gave the null, and how many
    doubt: float  # 1 - the Benjamini-Hochberg q-value over the training rows
    # The residuals and their scales are measured on asinh(y / reference) when the
    # target spans decades (`valuation.target_scale`); None: on y itself.
    reference: float | None = None
    # Where the neighbours were searched (`repair.target.neighbour_space`).
    neighbour_space: str = "prepared features"

    def on_scale(self, value: float) -> float:
        """A target value on the scale the residuals and their scales are measured on."""
        return value if self.reference is None else math.asinh(value / self.reference)

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"task": "regression"}
        for item in fields(self):
            value = getattr(self, item.name)
            found[item.name] = list(value) if isinstance(value, tuple) else value
        return found


@dataclass(frozen=True)
class Evidence:
    """What diagnosis found in one cell, the fields a repairer may read; None where
    a field does not apply to the diagnosis's kind. `as_json` writes the fields set,
    under these names, into a proposal's evidence (`mendb.repairs.evidence`)."""

    z: float | None = None  # robust z-score against the trusted rows
    z_within_label: float | None = None  # ... against the trusted rows of its label
    beyond_range: float | None = None  # `evidence.fence_distance`, when positive
    problem: VectorProblem | None = None
    distance: float | None = None  # how far a vector is (`problem` FAR)
    oov_share: float | None = None  # share of words no vocabulary knows
    unknown_words: tuple[str, ...] | None = None
    label_disagreement: float | None = None  # 1 - the support of the row's label
    target: TargetEvidence | None = None  # a regression target's (written flat)

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, TargetEvidence):
                found.update(value.as_json())
            elif value is not None:
                found[item.name] = list(value) if isinstance(value, tuple) else value
        return found


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
    kind: DiagnosisKind
    repairer: str
    confidence: float
    evidence: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # A plain string ("label") is accepted and kept as its enum member.
        try:
            object.__setattr__(self, "kind", DiagnosisKind(self.kind))
        except ValueError:
            kinds = tuple(str(k) for k in DiagnosisKind)
            raise ValueError(f"repair kind {self.kind!r} must be one of {kinds}") from None
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
    kind: DiagnosisKind
    column: str
    score: float
    evidence: Evidence = field(default_factory=Evidence)


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
    table), so their class distribution is the clean one. `label_type`: the label
    column's SQL type, so a new regression target keeps its text form."""

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
    label_type: str = ""

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"no column {name!r} in the repair context")

    def diagnosed(self, kind: DiagnosisKind) -> list[Diagnosis]:
        """The diagnoses of this kind; without diagnoses, every suspect is a
        label suspect (what a label-only caller expects)."""
        if self.diagnoses is None:
            if kind != DiagnosisKind.LABEL:
                return []
            label = DiagnosisKind.LABEL
            return [Diagnosis(int(i), label, self.label_column, 1.0) for i in self.suspects]
        return [d for d in self.diagnoses if d.kind == kind]

    def trusted(self) -> NDArray[np.bool_]:
        """Training rows that valuation says help (valued above its harm threshold)
        and are not suspects."""
        mask = self.values.values > (self.values.harmful_below or 0.0)
        mask[self.suspects] = False
        return mask


class Repairer(Protocol):
    """An expert that proposes fixes for suspect rows; plug in another by
    implementing this (a neighbour vote, a proxy model, an HTTP endpoint...).

    It proposes for the context's suspects only, in the label column or one of the
    context's columns: those are the cells whose current values the service reads
    (`TableState`)."""

    name: str

    def propose(self, context: RepairContext) -> list[RepairProposal]: ...


@dataclass(frozen=True)
class TableState:
    """What the table holds now for the suspects: the rows with an open (proposed or
    accepted) repair, and each cell's value in PostgreSQL's text form
    (`cells[column][row_key]`, what apply compares against)."""

    open_rows: frozenset[str] = frozenset()
    cells: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)

    def screen(self, proposals: Sequence[RepairProposal]) -> list[RepairProposal]:
        """The proposals still worth making, by column: none for a row with an open
        repair, none that would change nothing, each with its cell's current value
        as its old value.

        Rows with an open repair stay suspects while proposing, so that they are
        nobody's trusted neighbour and proposing twice sees the same evidence; they
        are only not proposed again."""
        wanted = [p for p in proposals if p.row_key not in self.open_rows]
        kept = []
        for column in sorted({p.column for p in wanted}):
            current = self.cells.get(column, {})
            for p in wanted:
                if p.column == column and current.get(p.row_key) != p.new_value:
                    kept.append(replace(p, old_value=current.get(p.row_key)))
        return kept
