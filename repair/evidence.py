"""Shared evidence: nearest neighbours, label votes, and a proxy classifier trained
on the rows valuation trusts (value > 0, not suspects) and on the validation rows;
and, from them, how well the data supports some rows' labels (`label_support`),
which diagnosis and the label experts both read.

The validation rows are the reference valuation measures every training row
against, so their labels are taken as right already; the classifier learns from
them beside the trusted training rows (`reference`), which lets the label expert
tell more flipped rows from unusual ones. The test rows stay unseen."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from mendb.repair.proposals import RepairContext
from mendb.valuation.data import Split

_EPS = 1e-9
_MAD_SCALE = 1.4826  # makes the MAD of normal data its standard deviation
MIN_TRUSTED = 10


def mad(values: NDArray[np.float64]) -> float:
    """Median absolute deviation from the median (0 for no values)."""
    return float(np.median(np.abs(values - np.median(values)))) if len(values) else 0.0


def robust_z(values: NDArray[np.float64], reference: NDArray[np.float64]) -> NDArray[np.float64]:
    reference = reference[np.isfinite(reference)]
    if len(reference) == 0:
        return np.zeros(len(values))
    centre = np.median(reference)
    scale = _MAD_SCALE * np.median(np.abs(reference - centre))
    if scale == 0:
        # A mostly constant column (sparse pixels, rare flags): a value the trusted
        # rows also take is no evidence of corruption; only one beyond their range is.
        spread = float(np.std(reference)) or 1.0
        beyond = np.maximum(values - reference.max(), 0) + np.maximum(reference.min() - values, 0)
        return beyond / spread
    return np.abs(values - centre) / scale


def fence_distance(values: NDArray[np.float64], fence: float) -> NDArray[np.float64]:
    """How far each value lies beyond the fences `fence` times as far from the
    median as the 2.5th and 97.5th percentiles are, in units of that percentile
    range (0 inside; NaN counts as inside).

    A value multiplied by 100 lands far beyond them; a legitimate extreme of a
    skewed column, a few times the 97.5th percentile, stays inside. The
    percentiles are order statistics with at least three values beyond them, so a
    few broken cells cannot move them, even in a table of a hundred rows. Where a
    percentile equals the median (a sparse column: mostly zeros), the median of the
    other values on that side stands in for it."""
    finite = np.sort(values[np.isfinite(values)])
    if len(finite) < 8:
        return np.zeros(len(values))
    centre = float(np.median(finite))
    low = max(float(np.percentile(finite, 2.5, method="higher")), float(finite[3]))
    high = min(float(np.percentile(finite, 97.5, method="lower")), float(finite[-4]))
    others = finite[finite != centre]
    if high == centre and len(others[others > centre]):
        high = float(np.median(others[others > centre]))
    if low == centre and len(others[others < centre]):
        low = float(np.median(others[others < centre]))
    width = high - low or 1.0
    upper, lower = centre + fence * (high - centre), centre - fence * (centre - low)
    beyond = np.maximum(values - upper, 0) + np.maximum(lower - values, 0)
    return np.nan_to_num(beyond / width)


def nearest(
    queries: NDArray[np.float64], points: NDArray[np.float64], k: int, batch: int = 1024
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Exact k nearest neighbours (Euclidean), batched over queries."""
    k = min(k, len(points))
    pts = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float64))
    all_d, all_i = [], []
    for start in range(0, len(queries), batch):
        q = torch.from_numpy(np.ascontiguousarray(queries[start : start + batch], dtype=np.float64))
        d, i = torch.topk(torch.cdist(q, pts), k, dim=1, largest=False, sorted=True)
        all_d.append(d.numpy())
        all_i.append(i.numpy())
    if not all_d:
        return np.zeros((0, k)), np.zeros((0, k), dtype=np.int64)
    return np.concatenate(all_d), np.concatenate(all_i)


def nearest_others(
    x: NDArray[np.float64], rows: NDArray[np.int64], k: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """For each of x[rows], its k nearest other rows of x: the row itself is left
    out, even where an exact duplicate of it comes first."""
    distances, found = nearest(x[rows], x, min(k + 1, len(x)))
    order = np.argsort(found == rows[:, None], axis=1, kind="stable")[:, : found.shape[1] - 1]
    return np.take_along_axis(distances, order, 1), np.take_along_axis(found, order, 1)


def weighted_votes(
    labels: NDArray[np.int64], distances: NDArray[np.float64], n_classes: int
) -> NDArray[np.float64]:
    """Per query row, inverse-distance-weighted class shares (rows sum to 1);
    neighbours marked -1 do not vote."""
    weights = np.where(labels >= 0, 1.0 / (distances + _EPS), 0.0)
    votes = np.zeros((len(labels), n_classes))
    np.add.at(votes, (np.arange(len(labels))[:, None], np.maximum(labels, 0)), weights)
    total = votes.sum(axis=1, keepdims=True)
    return np.divide(votes, total, out=np.full_like(votes, 1.0 / n_classes), where=total > 0)


def trusted_or_all(trusted: NDArray[np.bool_], suspects: NDArray[np.int64]) -> NDArray[np.int64]:
    """Indices of trusted rows; when too few, every row that is not a suspect."""
    rows = np.flatnonzero(trusted)
    if len(rows) >= MIN_TRUSTED:
        return rows
    return np.setdiff1d(np.arange(len(trusted)), suspects)


def classifier(seed: int = 0, strength: float = 1.0) -> LogisticRegression:
    """The proxy classifier; `strength` is sklearn's C, the inverse of the
    regularisation."""
    return LogisticRegression(C=strength, max_iter=500, random_state=seed)


def fit_quietly(model: LogisticRegression, x: NDArray[np.float64], y: NDArray[np.int64]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)


def class_probabilities(
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    queries: NDArray[np.float64],
    n_classes: int,
    reference: Split | None = None,
    strength: float = 1.0,
) -> NDArray[np.float64]:
    """Probabilities of every class for `queries`, from a classifier (of inverse
    regularisation `strength`) on (x, y) and the `reference` rows."""
    if reference is not None and len(reference):
        x, y = np.concatenate([x, reference.x]), np.concatenate([y, reference.y])
    out = np.zeros((len(queries), n_classes))
    present = np.unique(y)
    if len(present) == 1 or len(queries) == 0:
        out[:, present[0] if len(present) else 0] = 1.0
        return out
    model = classifier(strength=strength)
    fit_quietly(model, x, y)
    out[:, model.classes_] = model.predict_proba(queries)
    return out


def out_of_fold_probabilities(
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    n_classes: int,
    folds: int = 5,
    reference: Split | None = None,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Each row's class probabilities from a classifier that never saw it (but
    saw every `reference` row); `seed` draws the folds."""
    out = np.full((len(y), n_classes), 1.0 / n_classes)
    smallest = np.bincount(y).max() if len(y) else 0
    folds = min(folds, int(np.min(np.bincount(y)[np.unique(y)])) if len(y) else 0)
    if folds < 2 or smallest == len(y):
        return out
    for fit_rows, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        out[held] = class_probabilities(x[fit_rows], y[fit_rows], x[held], n_classes, reference)
    return out


@dataclass(frozen=True)
class LabelSupport:
    """For some rows: neighbour vote shares, classifier probabilities, and the
    neighbours themselves (indices into data.train, -1 padded)."""

    votes: NDArray[np.float64]
    probabilities: NDArray[np.float64]
    neighbours: NDArray[np.int64]
    distances: NDArray[np.float64]

    @property
    def combined(self) -> NDArray[np.float64]:
        return 0.5 * (self.votes + self.probabilities)


def label_support(context: RepairContext, rows: NDArray[np.int64], k: int = 10) -> LabelSupport:
    """The votes of each row's k nearest trusted rows, and the class probabilities
    of a classifier on the trusted and validation rows."""
    data = context.data
    trusted = trusted_or_all(context.trusted(), context.suspects)
    distances, neighbours = _trusted_neighbours(context, rows, trusted, k)
    labels = np.where(neighbours >= 0, data.train.y[np.maximum(neighbours, 0)], -1)
    votes = weighted_votes(labels, distances, data.n_classes)
    probs = class_probabilities(
        data.train.x[trusted], data.train.y[trusted], data.train.x[rows], data.n_classes, data.valid
    )
    return LabelSupport(votes, probs, neighbours, distances)


def _trusted_neighbours(
    context: RepairContext, rows: NDArray[np.int64], trusted: NDArray[np.int64], k: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    if context.neighbours is not None and len(rows):
        distances, found = context.neighbours.search(rows, k * 4)
        allowed = np.isin(found, trusted)
        order = np.argsort(~allowed, axis=1, kind="stable")[:, :k]
        picked = np.take_along_axis(np.where(allowed, found, -1), order, 1)
        return np.take_along_axis(distances, order, 1), picked
    distances, found = nearest(context.data.train.x[rows], context.data.train.x[trusted], k)
    return distances, trusted[found]


def neighbour_distance(
    context: RepairContext, values: NDArray[np.float64], rows: NDArray[np.int64], k: int
) -> NDArray[np.float64]:
    """Mean Euclidean distance to the k nearest trusted rows, of any label: a
    flipped label sits close to the other class, a corrupted vector close to none."""
    pool = trusted_or_all(context.trusted(), context.suspects)
    pool = pool[np.isfinite(values[pool]).all(axis=1)]
    if len(pool) < 2:
        return np.zeros(len(rows))
    distances, found = nearest(values[rows], values[pool], min(k + 1, len(pool)))
    distances = np.where(pool[found] == rows[:, None], np.nan, distances)[:, :k]
    return np.nanmean(distances, axis=1)


def cosine(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.where(norms > 0, norms, 1.0)
