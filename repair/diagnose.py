"""Why does a low-valued row hurt? One diagnosis per suspect, from evidence:

- missing value: a numeric cell is null;
- numeric outlier: far outside the column's range (`fence_distance`), or a
  robust z-score (median / MAD of the trusted rows) beyond `z_class` against the
  rows of its own label while each of its (at least two) other numeric columns is
  within `z_typical` (a label error looks unusual on many columns at once, a
  corrupted cell on one);
- corrupted vector: null, all zeros, far (cosine) from the re-embedding of the text
  it derives from, or far from the trusted rows (robust z of the distance to its
  nearest trusted rows against theirs; any label, since a flipped label sits close
  to the other class while a corrupted vector sits close to none);
- noisy text: a share of words that neither the trusted rows' vocabulary nor the
  bundled dictionary knows;
- label error: its label disagrees with its trusted neighbours' vote and with a
  classifier trained on trusted and validation rows (1 - their mean support of
  its label); for a regression target, `repair.target`'s calibrated doubt.

Hard evidence (a null, a broken vector, an extreme number) wins, for every cell
that has it (a row can have two broken cells); then noisy text, a cell unusual for
its label (unless the label stays doubted with that cell at its label's typical
value), and last a label error. Rows with no evidence get no diagnosis, and so no
proposal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from mendb.repair.evidence import (
    cosine,
    fence_distance,
    label_support,
    mad,
    nearest_others,
    neighbour_distance,
    out_of_fold_probabilities,
    robust_z,
    trusted_or_all,
    weighted_votes,
)
from mendb.repair.proposals import (
    Column,
    Diagnosis,
    DiagnosisKind,
    Evidence,
    RepairContext,
    VectorProblem,
)
from mendb.repair.target import TargetSettings, assess_targets
from mendb.repair.text import Vocabulary
from mendb.valuation.data import Task, TrainingArrays


class Tier(Enum):
    """How a finding in one cell ranks against the row's other findings: HARD wins,
    then TEXT, then a lone UNUSUAL cell. A MILD cell is never chosen, but beside an
    UNUSUAL one it means the row is not unusual in one column only."""

    HARD = "hard"  # a null, a broken or far vector, a number beyond its column's range
    TEXT = "text"  # words no vocabulary knows
    UNUSUAL = "unusual"  # a number beyond `z_class` against its label's rows
    MILD = "mild"  # a number beyond `z_typical` against its label's rows


@dataclass(frozen=True)
class Finding:
    """One cell's evidence, as a diagnosis, and how it ranks."""

    tier: Tier
    diagnosis: Diagnosis


@dataclass(frozen=True)
class Thresholds:
    z_class: float = 4.0
    z_typical: float = 2.0  # the other numeric columns must all be within this
    min_columns: int = 3  # "one column only" needs at least this many columns
    vector_distance: float = 0.2  # cosine distance from the re-embedding
    vector_z: float = 4.0
    oov_share: float = 0.08
    oov_min: int = 2
    label: float = 0.5
    explained: float = 0.5  # a fixed cell explains a doubted label if doubt falls below
    rare_null_share: float = 0.05  # a null is evidence only where nulls are this rare
    fence: float = 10.0  # times the 2.5th/97.5th percentile's distance from the median


def diagnose(
    context: RepairContext, thresholds: Thresholds | None = None, k: int = 10
) -> tuple[Diagnosis, ...]:
    limits = thresholds or Thresholds()
    rows = np.asarray(context.suspects, dtype=np.int64)
    found: dict[int, list[Finding]] = {int(i): [] for i in rows}
    numeric = [c for c in context.columns if c.kind == "numeric"]
    for column in context.columns:
        for finding in _column_findings(context, column, rows, limits, k):
            found[finding.diagnosis.index].append(finding)
    if context.data.task is Task.REGRESSION:
        return _with_targets(context, rows, found, limits, k)
    support = label_support(context, rows, k)
    label_scores = 1.0 - support.combined[np.arange(len(rows)), context.data.train.y[rows]]
    picks = {int(i): _choose(found[int(i)], len(numeric), limits) for i in rows}
    # A cell unusual for the row's label, while the label itself is doubted: either
    # explains the other. Put the cell at its label's typical value and ask again;
    # if the doubt stays, the label is the simpler explanation.
    torn = [
        int(i)
        for position, i in enumerate(rows)
        if label_scores[position] >= limits.label
        and (pick := picks[int(i)]) is not None
        and pick.kind == DiagnosisKind.NUMERIC
        and pick.evidence.beyond_range is None
    ]
    for index in _label_still_doubted(context, torn, picks, limits, k):
        picks[index] = None
    chosen = []
    for position, index in enumerate(rows):
        score = float(label_scores[position])
        pick = picks[int(index)]
        if pick is None and score >= limits.label:
            pick = Diagnosis(int(index), DiagnosisKind.LABEL, context.label_column, score)
        if pick is None:
            continue
        for cell in [pick, *_other_broken_cells(found[int(index)], pick)]:
            evidence = replace(cell.evidence, label_disagreement=round(score, 4))
            chosen.append(replace(cell, evidence=evidence))
    return tuple(chosen)


def _with_targets(
    context: RepairContext,
    rows: NDArray[np.int64],
    found: dict[int, list[Finding]],
    limits: Thresholds,
    k: int,
) -> tuple[Diagnosis, ...]:
    """A regression row: hard evidence in its cells wins, as for classes (a cell
    unusual for its label means nothing where labels are numbers); else a target
    doubted at `label` or more is a label diagnosis with the target's evidence."""
    assessment = assess_targets(context, TargetSettings(k=k))
    chosen: list[Diagnosis] = []
    for index in rows.tolist():
        pick = _choose(found[index], 0, limits)
        if pick is not None:
            chosen += [pick, *_other_broken_cells(found[index], pick)]
        elif (doubt := float(assessment.doubt[index])) >= limits.label:
            evidence = Evidence(target=assessment.evidence(index))
            label = DiagnosisKind.LABEL
            chosen.append(Diagnosis(index, label, context.label_column, doubt, evidence))
    return tuple(chosen)


def _other_broken_cells(findings: list[Finding], pick: Diagnosis) -> list[Diagnosis]:
    """When hard evidence won, the row's other cells with hard evidence, strongest
    per column: a row with two broken cells is mended in one round, not two."""
    hard = [f.diagnosis for f in findings if f.tier == Tier.HARD]
    if not any(d is pick for d in hard):
        return []
    best: dict[str, Diagnosis] = {}
    for d in sorted(hard, key=lambda d: -d.score):
        if d.column != pick.column:
            best.setdefault(d.column, d)
    return list(best.values())


def broken_cell_rows(
    columns: tuple[Column, ...], thresholds: Thresholds | None = None
) -> NDArray[np.int64]:
    """Training rows with hard evidence of a broken cell, whatever their value: a
    null where the column is otherwise filled, a number far outside the column's
    range, a null or all-zero vector.

    Valuation can miss these rows: one pushed far from the data is nobody's
    neighbour, so KNN-Shapley gives it a small positive value. "Far outside" is
    `fence_distance`: a legitimate extreme of a heavy tail, a rare non-zero pixel,
    stays inside; a value multiplied by 100 does not. Ordered by the strength of
    the evidence (farthest first, then nulls)."""
    limits = thresholds or Thresholds()
    strength: dict[int, float] = {}

    def note(rows: NDArray[np.int64], scores: NDArray[np.float64]) -> None:
        for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
            strength[row] = max(strength.get(row, 0.0), score)

    for column in columns:
        if column.kind == "numeric":
            values = column.values
            null = np.isnan(values)
            if 0 < null.mean() <= limits.rare_null_share:
                note(np.flatnonzero(null), np.zeros(int(null.sum())))
            outside = fence_distance(values, limits.fence)
            far = np.flatnonzero(outside > 0)
            note(far, outside[far])
        elif column.kind == "vector":
            broken = np.isnan(column.values).any(axis=1) | ~np.any(column.values != 0, axis=1)
            if 0 < broken.mean() <= limits.rare_null_share:
                note(np.flatnonzero(broken), np.zeros(int(broken.sum())))
    order = sorted(strength, key=lambda row: (-strength[row], row))
    return np.array(order, dtype=np.int64)


def doubted_label_rows(
    data: TrainingArrays,
    rows: NDArray[np.int64],
    thresholds: Thresholds | None = None,
    k: int = 10,
) -> NDArray[np.int64]:
    """Of `rows`, those whose label both their nearest other training rows and a
    classifier that never saw them contradict (their mean support of the label
    is below 1 - `label`), whatever their value; least supported first.

    Valuation can miss a flipped label as it misses a broken cell: KNN-Shapley
    values a row only through the validation rows that count it among their
    nearest, so a flip few of them reach, or one whose next-nearest rows are of
    another class too, can sit just above zero, so rows valued just above it are
    asked too (`selection.doubt_pool`)."""
    limits = thresholds or Thresholds()
    rows = np.asarray(rows, dtype=np.int64)
    x, y = data.train.x, data.train.y
    if len(rows) == 0 or len(y) < 2:
        return np.zeros(0, dtype=np.int64)
    distances, found = nearest_others(x, rows, k)
    votes = weighted_votes(y[found], distances, data.n_classes)
    held_out = out_of_fold_probabilities(x, y, data.n_classes, reference=data.valid)[rows]
    support = 0.5 * (votes + held_out)[np.arange(len(rows)), y[rows]]
    doubted = np.flatnonzero(support < 1.0 - limits.label)
    return rows[doubted[np.argsort(support[doubted], kind="stable")]]


def _label_still_doubted(
    context: RepairContext,
    rows: list[int],
    picks: dict[int, Diagnosis | None],
    limits: Thresholds,
    k: int,
) -> list[int]:
    """Of `rows` (each with one unusual numeric cell), those whose label is still
    doubted (`explained` or more) once that cell takes the median of its label's
    trusted rows."""
    if not rows:
        return []
    data = context.data
    x = data.train.x.copy()
    trusted = trusted_or_all(context.trusted(), context.suspects)
    for index in rows:
        j = data.feature_names.index(picks[index].column)  # type: ignore[union-attr]
        same = trusted[data.train.y[trusted] == data.train.y[index]]
        if len(same):
            x[index, j] = np.median(x[same, j])
    moved = replace(context, data=replace(data, train=replace(data.train, x=x)))
    index_array = np.array(rows, dtype=np.int64)
    support = label_support(moved, index_array, k)
    doubt = 1.0 - support.combined[np.arange(len(rows)), data.train.y[index_array]]
    return [index for index, d in zip(rows, doubt, strict=True) if d >= limits.explained]


def _choose(findings: list[Finding], n_numeric: int, limits: Thresholds) -> Diagnosis | None:
    def of(tier: Tier) -> list[Diagnosis]:
        return [f.diagnosis for f in findings if f.tier == tier]

    for tier in (Tier.HARD, Tier.TEXT):
        if of(tier):
            return max(of(tier), key=lambda d: d.score)
    unusual = of(Tier.UNUSUAL)
    if len(unusual) == 1 and not of(Tier.MILD) and n_numeric >= limits.min_columns:
        return unusual[0]
    return None


def _column_findings(
    context: RepairContext, column: Column, rows: NDArray[np.int64], limits: Thresholds, k: int
) -> list[Finding]:
    if column.kind == "numeric":
        return _numeric(context, column, rows, limits)
    if column.kind == "vector":
        return _vector(context, column, rows, limits, k)
    if column.kind == "text":
        return _text(context, column, rows, limits)
    return []


def _numeric(
    context: RepairContext, column: Column, rows: NDArray[np.int64], limits: Thresholds
) -> list[Finding]:
    values, y = column.values, context.data.train.y
    trusted = trusted_or_all(context.trusted(), context.suspects)
    outside = fence_distance(values, limits.fence)
    out: list[Finding] = []
    numeric = DiagnosisKind.NUMERIC
    for index in rows:
        value = values[index]
        if np.isnan(value):
            missing = Diagnosis(int(index), DiagnosisKind.MISSING, column.name, 1.0)
            out.append(Finding(Tier.HARD, missing))
            continue
        z = float(robust_z(np.array([value]), values[trusted])[0])
        same = trusted[y[trusted] == y[index]]
        # Against its own label the column must have a spread to be unusual against:
        # where most rows of the label share one value (a pixel that is mostly
        # off), a different value is common variety, not a corrupted cell.
        spread = len(same) > 2 and mad(values[same]) > 0
        z_label = float(robust_z(np.array([value]), values[same])[0]) if spread else 0.0
        evidence = Evidence(z=round(z, 3), z_within_label=round(z_label, 3))
        if outside[index] > 0:
            evidence = replace(evidence, beyond_range=round(float(outside[index]), 3))
            score = min(1.0, 0.5 + outside[index])
            diagnosis = Diagnosis(int(index), numeric, column.name, score, evidence)
            out.append(Finding(Tier.HARD, diagnosis))
        elif z_label > limits.z_class:
            score = min(1.0, z_label / (2 * limits.z_class))
            diagnosis = Diagnosis(int(index), numeric, column.name, score, evidence)
            out.append(Finding(Tier.UNUSUAL, diagnosis))
        elif z_label > limits.z_typical:
            out.append(Finding(Tier.MILD, Diagnosis(int(index), numeric, column.name, 0.0)))
    return out


def _vector(
    context: RepairContext, column: Column, rows: NDArray[np.int64], limits: Thresholds, k: int
) -> list[Finding]:
    values = column.values
    out: list[Finding] = []
    vector = DiagnosisKind.VECTOR
    broken = np.isnan(values[rows]).any(axis=1) | ~np.any(values[rows] != 0, axis=1)
    for index, bad in zip(rows, broken, strict=True):
        if bad:
            null = np.isnan(values[index]).any()
            evidence = Evidence(problem=VectorProblem.NULL if null else VectorProblem.ALL_ZEROS)
            diagnosis = Diagnosis(int(index), vector, column.name, 1.0, evidence)
            out.append(Finding(Tier.HARD, diagnosis))
    healthy = rows[~broken]
    distances = _vector_distances(context, column, healthy, k, limits)
    if distances is None:
        return out
    measure, scores, limit = distances
    for index, distance, score in zip(healthy, measure, scores, strict=True):
        if score > limit:
            evidence = Evidence(problem=VectorProblem.FAR, distance=round(float(distance), 4))
            strength = min(1.0, score / 2 / limit)
            diagnosis = Diagnosis(int(index), vector, column.name, strength, evidence)
            out.append(Finding(Tier.HARD, diagnosis))
    return out


def _vector_distances(
    context: RepairContext,
    column: Column,
    rows: NDArray[np.int64],
    k: int,
    limits: Thresholds,
) -> tuple[NDArray[np.float64], NDArray[np.float64], float] | None:
    """(distance, score, limit) per row: cosine distance from the re-embedded
    source text when there is one, else the robust z of the neighbour distance."""
    if len(rows) == 0:
        return None
    values = column.values
    encoder = context.encoder
    if column.source and encoder is not None and encoder.dim == values.shape[1]:
        texts = context.column(column.source).values[rows]
        present = np.array([t is not None for t in texts])
        fresh = np.zeros((len(rows), values.shape[1]))
        if present.any():
            fresh[present] = encoder.encode([str(t) for t in texts[present]])
        distance = np.where(present, 1.0 - cosine(values[rows], fresh), 0.0)
        return distance, distance, limits.vector_distance
    own = neighbour_distance(context, values, rows, k)
    trusted = trusted_or_all(context.trusted(), context.suspects)
    reference = neighbour_distance(context, values, trusted, k)
    return own, robust_z(own, reference), limits.vector_z


def _text(
    context: RepairContext, column: Column, rows: NDArray[np.int64], limits: Thresholds
) -> list[Finding]:
    vocabulary = Vocabulary.from_texts(column.values[context.trusted()])
    out: list[Finding] = []
    for index in rows:
        text = column.values[index]
        if text is None:
            continue
        share, unknown = vocabulary.oov_share(str(text))
        if len(unknown) >= limits.oov_min and share >= limits.oov_share:
            evidence = Evidence(oov_share=round(share, 4), unknown_words=tuple(unknown[:20]))
            score = min(1.0, share / (2 * limits.oov_share))
            diagnosis = Diagnosis(int(index), DiagnosisKind.TEXT, column.name, score, evidence)
            out.append(Finding(Tier.TEXT, diagnosis))
    return out
