"""The classifier whose class probabilities p(x) the label expert's posterior rests
on, fitted on reference rows whose labels are trusted, and the test of whether the
features predict the label there at all.

The posterior P(true j | x, recorded i), proportional to T[j, i] p_j(x), is only as
right as p(x) is calibrated, and the relabels it is sure of are exactly the rows in
p's tails. A logistic model at a fixed regularisation, fitted on a few hundred
reference rows, is overconfident there (it calls a class nearly impossible where
it holds several times that share of the rows; docs/BENCHMARKS.md, "Relabel
confidence: the reference model and its refits"), so `reference_model` picks the
regularisation by
cross-validated log-loss, a proper scoring rule: its probabilities are as sharp as
the reference rows support.

Where the features do not predict the label beyond its base rate, neither p(x) nor
the noise model means anything: the transition is then identified only by the class
margins, and any split of the flips between directions fits them equally well.
`ReferenceModel.predicts` says whether the out-of-fold log-loss beats the base
rate's by a one-sided margin of paired standard errors; the label expert gives no
confidence to a relabel where it does not.

The relabels the expert acts on are those whose posterior came out highest, so
they are also those whose p(x) the particular reference rows happened to sharpen
most (the winner's curse). `resampled` holds p(x) refitted on bootstrap resamples
of the reference rows, from which the expert takes a lower quantile of the
posterior: a relabel is sure only if it stays sure whichever reference rows had
been drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold

from mendb.repair.evidence import class_probabilities

# Inverse regularisation strengths searched (sklearn's C), from a model that barely
# leaves the base rate to one that follows the rows; the evidence module's fixed
# classifier sits in between.
STRENGTHS = tuple(float(c) for c in np.logspace(-3, 2, 11))
# One-sided, as the loop's judges ask of a paired change (server.policy.DEFAULT_Z):
# the question is only whether the model beats the base rate.
SIGNAL_MARGIN = 1.645
_FOLDS = 5
_FLOOR = 1e-12
RESAMPLES = 20
_REDRAWS = 100
# A logistic model's coefficients are settled long before this many rows, and the
# choice of strength, the signal test and the refits fit it dozens of times: a
# bigger reference is subsampled, stratified.
MAX_ROWS = 10_000


@dataclass(frozen=True)
class ReferenceModel:
    """`probabilities` of every class for the query rows; `strength`: the chosen C;
    `signal`: the out-of-fold log-loss gain over the base rate on the reference rows,
    in paired standard errors (0 where there were too few rows of some class to
    fold); `resampled` (resamples x queries x classes): the probabilities of the
    same model refitted on bootstrap resamples of the reference rows."""

    probabilities: NDArray[np.float64]
    strength: float
    signal: float
    resampled: NDArray[np.float64]

    @property
    def predicts(self) -> bool:
        """Whether the features predict the label beyond its base rate."""
        return self.signal > SIGNAL_MARGIN


def reference_model(
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    queries: NDArray[np.float64],
    n_classes: int,
    seed: int = 0,
) -> ReferenceModel:
    """Fit on the reference rows (x, y) at the regularisation with the lowest
    out-of-fold log-loss and return its probabilities for `queries`.

    The signal is measured on the same out-of-fold losses that chose the strength:
    a choice among a few strengths leaves it slightly optimistic, which the margin
    absorbs."""
    y = np.asarray(y, np.int64)
    rng = np.random.default_rng(seed)
    if len(y) > MAX_ROWS:
        kept = _stratified_subsample(y, MAX_ROWS, rng)
        x, y = x[kept], y[kept]
    present = np.unique(y)
    out = np.zeros((len(queries), n_classes))
    if len(present) < 2:
        out[:, present[0] if len(present) else 0] = 1.0
        return ReferenceModel(out, 1.0, 0.0, out[None])
    folds = min(_FOLDS, int(np.bincount(y)[present].min()))
    strength, signal = 1.0, 0.0
    if folds >= 2:
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
        losses = [_out_of_fold_losses(x, y, n_classes, splits, c) for c in STRENGTHS]
        best = int(np.argmin([loss.mean() for loss in losses]))
        strength = STRENGTHS[best]
        signal = _paired_gain(_base_rate_losses(y, n_classes, splits), losses[best])
    probabilities = class_probabilities(x, y, queries, n_classes, strength=strength)
    resampled = np.stack(
        [
            class_probabilities(x[rows], y[rows], queries, n_classes, strength=strength)
            for rows in (_resample(y, rng) for _ in range(RESAMPLES))
        ]
    )
    return ReferenceModel(probabilities, strength, signal, resampled)


def _stratified_subsample(
    y: NDArray[np.int64], limit: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """About `limit` rows, each class in its share (and at least two of it, where it
    has them)."""
    kept = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        take = min(len(rows), max(2, round(limit * len(rows) / len(y))))
        kept.append(rng.choice(rows, take, replace=False))
    return np.sort(np.concatenate(kept))


def _resample(y: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.int64]:
    """A bootstrap resample of the rows that keeps every class present (redrawn
    until it does; all the rows if a class is too rare to be drawn)."""
    present = len(np.unique(y))
    for _ in range(_REDRAWS):
        rows = rng.integers(0, len(y), len(y))
        if len(np.unique(y[rows])) == present:
            return rows
    return np.arange(len(y))


def _out_of_fold_losses(
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    n_classes: int,
    splits: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
    strength: float,
) -> NDArray[np.float64]:
    losses = np.zeros(len(y))
    for fit_rows, held in splits:
        probabilities = class_probabilities(
            x[fit_rows], y[fit_rows], x[held], n_classes, strength=strength
        )
        losses[held] = -np.log(np.clip(probabilities[np.arange(len(held)), y[held]], _FLOOR, 1))
    return losses


def _base_rate_losses(
    y: NDArray[np.int64],
    n_classes: int,
    splits: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
) -> NDArray[np.float64]:
    """Each row's log-loss under its training folds' class shares (add-one-half
    smoothed, so a class absent there costs a finite loss)."""
    losses = np.zeros(len(y))
    for fit_rows, held in splits:
        shares = (np.bincount(y[fit_rows], minlength=n_classes) + 0.5) / (
            len(fit_rows) + 0.5 * n_classes
        )
        losses[held] = -np.log(shares[y[held]])
    return losses


def _paired_gain(base: NDArray[np.float64], model: NDArray[np.float64]) -> float:
    gain = base - model
    spread = float(gain.std(ddof=1)) / np.sqrt(len(gain)) if len(gain) > 1 else 0.0
    if spread == 0.0:
        return 0.0
    return float(gain.mean()) / spread
